#!/usr/bin/env bash
# nic-layout.sh: report (and optionally apply) where a NIC's packets are handled, next to the
# cores srtrelay's shards run on.
#
# Reports, per interface: its rx/tx queues (/sys/class/net/IF/queues), the IRQ of each queue
# with its affinity and per-CPU counts (/proc/interrupts, /proc/irq/N/smp_affinity_list), the
# RPS and XPS masks of each queue, RFS table sizes, and whether irqbalance is running.
#
# With --apply it writes a layout that matches the shard cores (see tuning/README.md, "NIC
# queues and IRQs"):
#   - queue IRQ q (rx, tx or combined)  -> core cores[q mod n]
#   - RPS of every rx queue             -> all shard cores when there are fewer rx queues than
#                                          shard cores (spread softirq work), else off (RSS
#                                          already spreads it)
#   - XPS of tx queue j                 -> the shard cores k with k mod ntx == j
# Without --apply (the default, same as --dry-run) it writes nothing and prints what it would
# write. Changes do not survive a reboot or a NIC reset; re-run it from the unit (README).
#
# Usage: nic-layout.sh [--dry-run | --apply] [--cores LIST | --config FILE] [--iface IF]...
#   --cores LIST   shard cores, e.g. 2-5 or 0,2,4 (default: every online CPU)
#   --config FILE  take the cores from srtrelay's config (runs `srtrelay --check-config`)
#   --iface IF     only this interface (repeatable; default: every interface with a device)
#   --root DIR     read /sys and /proc under DIR (tests use a fake tree)
set -euo pipefail

ROOT=""
APPLY=0
CORES_ARG=""
CONFIG=""
IFACES=()

die() { printf 'nic-layout.sh: error: %s\n' "$*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --apply) APPLY=1 ;;
        --dry-run) APPLY=0 ;;
        --cores) [[ $# -ge 2 ]] || die "--cores needs a list"; CORES_ARG=$2; shift ;;
        --config) [[ $# -ge 2 ]] || die "--config needs a file"; CONFIG=$2; shift ;;
        --iface) [[ $# -ge 2 ]] || die "--iface needs a name"; IFACES+=("$2"); shift ;;
        --root) [[ $# -ge 2 ]] || die "--root needs a directory"; ROOT=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

SYS=$ROOT/sys
PROC=$ROOT/proc

# "0-2,5" -> "0 1 2 5"
expand_cpus() {
    local part lo hi c out=()
    local -a parts
    IFS=, read -r -a parts <<<"$1"
    for part in "${parts[@]}"; do
        part=${part//[[:space:]]/}
        [[ -z $part ]] && continue
        if [[ $part =~ ^([0-9]+)-([0-9]+)$ ]]; then
            lo=${BASH_REMATCH[1]} hi=${BASH_REMATCH[2]}
            ((lo <= hi)) || die "bad CPU range: $part"
            for ((c = lo; c <= hi; c++)); do out+=("$c"); done
        elif [[ $part =~ ^[0-9]+$ ]]; then
            out+=("$part")
        else
            die "bad CPU list: $1"
        fi
    done
    echo "${out[*]}"
}

# "0 1 5" -> "23" (hex, comma-separated 32-bit groups as in /sys rps_cpus)
cpus_to_mask() {
    local c max=0 g
    for c in $1; do ((c > max)) && max=$c; done
    local groups=$((max / 32 + 1)) res=""
    for ((g = groups - 1; g >= 0; g--)); do
        local v=0
        for c in $1; do ((c / 32 == g)) && v=$((v | (1 << (c % 32)))); done
        if [[ -z $res ]]; then res=$(printf '%x' "$v"); else res+=$(printf ',%08x' "$v"); fi
    done
    echo "$res"
}

# "00000000,00000023" -> "0 1 5"
mask_to_cpus() {
    local hex=${1//,/} out=() i=0 d v b
    hex=${hex##0x}
    local n=${#hex}
    for ((d = n - 1; d >= 0; d--)); do
        v=$((16#${hex:d:1}))
        for ((b = 0; b < 4; b++)); do
            ((v & (1 << b))) && out+=("$((i + b))")
        done
        i=$((i + 4))
    done
    echo "${out[*]}"
}

# "0 1 2 5" -> "0-2,5"
compact_cpus() {
    local res="" start="" prev="" c
    for c in $1 ""; do
        if [[ -n $c && -n $prev && $c -eq $((prev + 1)) ]]; then prev=$c; continue; fi
        if [[ -n $start ]]; then
            [[ -n $res ]] && res+=,
            if [[ $start == "$prev" ]]; then res+=$start; else res+="$start-$prev"; fi
        fi
        start=$c prev=$c
    done
    echo "${res:-none}"
}

# The content of file $1 without newlines, or $2 when it cannot be read (a single-queue device
# answers ENOENT on reading xps_cpus).
read_or() {
    local v
    if v=$(tr -d '\n' <"$1" 2>/dev/null); then echo "$v"; else echo "$2"; fi
}

# --- the shard cores ----------------------------------------------------------------------

if [[ -n $CONFIG ]]; then
    command -v srtrelay >/dev/null 2>&1 || die "--config needs srtrelay on PATH"
    CORES_ARG=$(srtrelay --config "$CONFIG" --check-config | sed -n 's/^ *cores: *//p')
    [[ -n $CORES_ARG ]] || die "no cores in srtrelay --check-config output for $CONFIG"
fi
[[ -n $CORES_ARG ]] || CORES_ARG=$(read_or "$SYS/devices/system/cpu/online" 0)
read -r -a CORES <<<"$(expand_cpus "$CORES_ARG")"
[[ ${#CORES[@]} -gt 0 ]] || die "no shard cores"
NCORES=${#CORES[@]}

if [[ ${#IFACES[@]} -eq 0 ]]; then
    for dev in "$SYS"/class/net/*; do
        [[ -e $dev/device ]] && IFACES+=("$(basename "$dev")")
    done
fi

# --- IRQs of an interface -----------------------------------------------------------------

# Prints "irq name" for each IRQ of interface $1: the device's MSI vectors when listed (PCI),
# else /proc/interrupts names that carry the interface or its device name (virtio).
nic_irqs() {
    local ifc=$1 dev devname irq line name
    dev=$SYS/class/net/$ifc/device
    devname=$(basename "$(readlink "$dev" 2>/dev/null || echo none)")
    local -A want=()
    if [[ -d $dev/msi_irqs ]]; then
        for irq in "$dev"/msi_irqs/*; do want[$(basename "$irq")]=1; done
    fi
    while read -r line; do
        [[ $line =~ ^([0-9]+): ]] || continue
        irq=${BASH_REMATCH[1]}
        name=${line##* }
        if [[ -n ${want[$irq]:-} || $name == "$ifc"-* || $name == "$ifc" ||
            $name == "$devname"-* || $name == *"@$ifc" ]]; then
            echo "$irq $name"
        fi
    done <"$PROC/interrupts"
}

# Queue IRQs only: "irq kind index name", kind rx|tx|combined. Config/async/control vectors
# are not queues and are left alone.
queue_irqs() {
    local ifc=$1 irq name kind idx lower tail devname
    devname=$(basename "$(readlink "$SYS/class/net/$ifc/device" 2>/dev/null || echo none)")
    while read -r irq name; do
        # The queue number ends the name once the interface or device name and any `@bus`
        # suffix are cut off: eth0-TxRx-3, virtio2-input.0, mlx5_comp3@pci:... A vector named
        # just `eth9` is the link-status one, not queue 9.
        tail=${name%%@*}
        if [[ $tail == "$ifc"* ]]; then tail=${tail#"$ifc"}
        elif [[ $tail == "$devname"* ]]; then tail=${tail#"$devname"}
        fi
        lower=${tail,,}
        [[ $lower =~ (config|async|ctrl|control|misc|lsc) ]] && continue
        [[ $lower =~ ([0-9]+)$ ]] || continue
        idx=$((10#${BASH_REMATCH[1]}))
        if [[ $lower =~ (txrx|combined|comp|fp|queue) ]]; then kind=combined
        elif [[ $lower =~ (input|rx) ]]; then kind=rx
        elif [[ $lower =~ (output|tx) ]]; then kind=tx
        else kind=combined
        fi
        echo "$irq $kind $idx $name"
    done < <(nic_irqs "$1")
}

irq_counts() {
    # Per-CPU counts of IRQ $1 as "a/b/c".
    local line
    line=$(grep -E "^ *$1:" "$PROC/interrupts" || true)
    local -a f
    read -r -a f <<<"$line"
    local ncpu
    ncpu=$(head -n1 "$PROC/interrupts" | wc -w)
    local out=() i
    for ((i = 1; i <= ncpu && i < ${#f[@]}; i++)); do out+=("${f[$i]}"); done
    local IFS=/
    echo "${out[*]}"
}

# --- plan and apply -----------------------------------------------------------------------

CHANGES=0
FAILED=0

# set FILE VALUE DESCRIPTION: in dry-run print, with --apply write (and report failures).
set_value() {
    local file=$1 value=$2 what=$3 current
    current=$(read_or "$file" "?")
    if [[ $current == "$value" ]]; then
        printf '    ok       %-44s %s\n' "$what" "$value"
        return
    fi
    CHANGES=$((CHANGES + 1))
    if [[ $APPLY -eq 1 ]]; then
        if { printf '%s\n' "$value" >"$file"; } 2>/dev/null; then
            printf '    wrote    %-44s %s (was %s)\n' "$what" "$value" "$current"
        else
            printf '    FAILED   %-44s %s (still %s)\n' "$what" "$value" "$current"
            FAILED=$((FAILED + 1))
        fi
    else
        printf '    would    %-44s %s (now %s)\n' "$what" "$value" "$current"
    fi
}

# Same mask? (the kernel prints zero-padded groups; compare CPU sets)
set_mask() {
    local file=$1 cpus=$2 what=$3 current
    current=$(read_or "$file" "")
    if [[ -n $current && $(mask_to_cpus "$current") == "$cpus" ]]; then
        printf '    ok       %-44s %s (%s)\n' "$what" "$current" "$(compact_cpus "$cpus")"
        return
    fi
    if [[ -z $cpus ]]; then set_value "$file" 0 "$what"; else
        set_value "$file" "$(cpus_to_mask "$cpus")" "$what"
    fi
}

echo "srtrelay NIC layout: shard cores $(compact_cpus "${CORES[*]}") ($NCORES)," \
    "mode $([[ $APPLY -eq 1 ]] && echo apply || echo dry-run)"
if pgrep -x irqbalance >/dev/null 2>&1; then
    echo "warning: irqbalance is running and rewrites IRQ affinity: ban the shard cores" \
        "(IRQBALANCE_BANNED_CPULIST) or stop it, or --apply will not last"
fi
echo "RFS: net.core.rps_sock_flow_entries = $(read_or "$PROC/sys/net/core/rps_sock_flow_entries" '?')"

[[ ${#IFACES[@]} -gt 0 ]] || echo "no network interface with a device under $SYS/class/net"

for ifc in "${IFACES[@]}"; do
    qdir=$SYS/class/net/$ifc/queues
    [[ -d $qdir ]] || { echo "$ifc: no such interface (or no queues)"; FAILED=$((FAILED + 1)); continue; }
    rxq=() txq=()
    for q in "$qdir"/rx-*; do [[ -e $q ]] && rxq+=("$(basename "$q")"); done
    for q in "$qdir"/tx-*; do [[ -e $q ]] && txq+=("$(basename "$q")"); done
    driver=$(basename "$(readlink "$SYS/class/net/$ifc/device/driver" 2>/dev/null || echo '?')")
    echo
    echo "$ifc (driver $driver): ${#rxq[@]} rx queue(s), ${#txq[@]} tx queue(s)"

    mapfile -t qirqs < <(queue_irqs "$ifc")
    if [[ ${#qirqs[@]} -eq 0 ]]; then
        echo "  queue IRQs: none found (virtual device, or names this script does not know)"
    else
        echo "  queue IRQs (irq kind queue name: affinity, effective, count per CPU):"
        for entry in "${qirqs[@]}"; do
            read -r irq kind idx name <<<"$entry"
            printf '    %-5s %-8s %-3s %-28s %-9s %-9s %s\n' "$irq" "$kind" "$idx" "$name" \
                "$(read_or "$PROC/irq/$irq/smp_affinity_list" '?')" \
                "$(read_or "$PROC/irq/$irq/effective_affinity_list" '-')" \
                "$(irq_counts "$irq")"
        done
    fi
    echo "  rx queues (RPS mask, RFS flow count):"
    for q in "${rxq[@]}"; do
        printf '    %-8s rps_cpus=%s rps_flow_cnt=%s\n' "$q" \
            "$(read_or "$qdir/$q/rps_cpus" 'n/a')" "$(read_or "$qdir/$q/rps_flow_cnt" 'n/a')"
    done
    echo "  tx queues (XPS mask):"
    for q in "${txq[@]}"; do
        printf '    %-8s xps_cpus=%s\n' "$q" "$(read_or "$qdir/$q/xps_cpus" 'n/a')"
    done

    echo "  layout for shard cores $(compact_cpus "${CORES[*]}"):"
    for entry in "${qirqs[@]}"; do
        read -r irq kind idx name <<<"$entry"
        set_value "$PROC/irq/$irq/smp_affinity_list" "${CORES[idx % NCORES]}" \
            "irq $irq ($name) affinity"
    done
    # Fewer rx queues than shard cores: RPS spreads the protocol work over all shard cores.
    rps=""
    if [[ ${#rxq[@]} -lt $NCORES ]]; then rps="${CORES[*]}"; fi
    for q in "${rxq[@]}"; do
        [[ -e $qdir/$q/rps_cpus ]] || continue
        set_mask "$qdir/$q/rps_cpus" "$rps" "$q rps_cpus"
    done
    ntx=${#txq[@]}
    for ((j = 0; j < ntx; j++)); do
        q=tx-$j
        [[ -e $qdir/$q/xps_cpus ]] || continue
        if [[ $(read_or "$qdir/$q/xps_cpus" n/a) == n/a ]]; then
            printf '    skip     %-44s %s\n' "$q xps_cpus" "unreadable (single-queue device)"
            continue
        fi
        xps=()
        for ((k = 0; k < NCORES; k++)); do ((k % ntx == j)) && xps+=("${CORES[k]}"); done
        set_mask "$qdir/$q/xps_cpus" "${xps[*]}" "$q xps_cpus"
    done
done

echo
if [[ $APPLY -eq 1 ]]; then
    echo "applied: $CHANGES change(s), $FAILED failure(s)"
else
    echo "dry run: $CHANGES change(s) would be made; nothing was written (use --apply)"
fi
[[ $FAILED -eq 0 ]]
