# SPDX-License-Identifier: MIT
# bash completion for dtr. The candidates come from the binary itself
# (`dtr __complete CWORD WORDS...`, cli/describe.c), which reads the same
# flag tables as --help, so a new flag completes without touching this file.
# Task ids come from `dtr tasks` against the master in $DTR_MASTER (or the
# --master given on the line), with a short timeout.
_dtr() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local dtr=${COMP_WORDS[0]} out IFS=$'\n'
    COMPREPLY=()
    out=$("$dtr" __complete "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null) || return 0
    case $out in
    @files)
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
        ;;
    @dirs)
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -d -- "$cur"))
        ;;
    @tasks)
        local i master=()
        for ((i = 1; i < COMP_CWORD; i++)); do
            [ "${COMP_WORDS[i]}" = --master ] && master=(--master "${COMP_WORDS[i + 1]}")
        done
        COMPREPLY=($(compgen -W "$(timeout 3 "$dtr" tasks "${master[@]}" 2>/dev/null |
            awk 'NR > 1 { print $1 }')" -- "$cur"))
        ;;
    *)
        COMPREPLY=($(compgen -W "$out" -- "$cur"))
        ;;
    esac
    return 0
}
complete -F _dtr dtr
