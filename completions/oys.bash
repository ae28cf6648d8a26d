# bash completion for the oys tools.
#
# Every tool answers `TOOL --complete WORD...` with the candidates for the last WORD (its
# subcommands, its long options, the values an option takes, or :file/:dir/:none), straight
# from the option tables in its source, so this file lists nothing itself and cannot drift.
# Installed once per tool name (bash-completion loads it on demand by command name).

_oys_complete() {
	local cur=${COMP_WORDS[COMP_CWORD]} cands
	cands=$("${COMP_WORDS[0]}" --complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return
	case $cands in
	:file)
		compopt -o filenames 2>/dev/null || true
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		;;
	:dir)
		compopt -o filenames 2>/dev/null || true
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		;;
	:none) COMPREPLY=() ;;
	*) mapfile -t COMPREPLY < <(compgen -W "$cands" -- "$cur") ;;
	esac
}

complete -F _oys_complete oys-attest oys-capnp oys-cgroup oys-fetch oys-port oys-run oys-serve oys-sign oys-store oys-warm
