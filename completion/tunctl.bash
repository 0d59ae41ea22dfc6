# bash completion for tunctl(8). Installed as
# <datadir>/bash-completion/completions/tunctl, where bash-completion
# loads it on first use; or source it from ~/.bashrc.
#
# Subcommands come from `tunctl help` (the table in ctl/main.c), so a new
# command completes without an edit here; the static list is the fallback
# for a tunctl that cannot say. Peer names come from `tunctl peers` of the
# running tund (first column; names never contain blanks), and nothing is
# offered when tund cannot be asked. Every call is bounded by timeout(1)
# where it exists, so a wedged daemon cannot hang the shell.

_tunctl_run() {
	if command -v timeout >/dev/null 2>&1; then
		timeout 2 "$@" 2>/dev/null
	else
		"$@" 2>/dev/null
	fi
}

_tunctl_commands() { # tunctl [-s SOCKET]
	local out
	out=$(_tunctl_run "$@" help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\)\( .*\)\{0,1\}$/\1/p')
	if [ -z "$out" ]; then
		out="status peers ping connect disconnect netcheck reload allow revoke genkey pubkey id help"
	fi
	printf '%s\n' "$out"
}

_tunctl_peers() { # ROLE(any|client) tunctl [-s SOCKET]
	local role=$1
	shift
	_tunctl_run "$@" peers | awk -v role="$role" \
		'NR > 1 && NF >= 2 && (role == "any" || $2 == role) { print $1 }'
}

_tunctl() {
	local cur prev words cword
	if declare -F _init_completion >/dev/null 2>&1; then
		_init_completion -n = || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi

	# The tunctl to ask, with the -s SOCKET already typed, and the command.
	local ctl=("${words[0]}") cmd="" cmd_at=0 i
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
			-s | --socket)
				# Without bash-completion, readline's word breaks leave
				# "--socket=PATH" as three words: --socket, =, PATH.
				[ "${words[i + 1]:-}" = "=" ] && ((i++))
				((i + 1 < cword)) && ctl+=(-s "${words[i + 1]}")
				((i++))
				;;
			--socket=*) ctl+=(-s "${words[i]#--socket=}") ;;
			-*) ;;
			*) cmd=${words[i]} cmd_at=$i; break ;;
		esac
	done

	if [ -z "$cmd" ]; then
		case $prev in
			-s | --socket)
				if declare -F _filedir >/dev/null 2>&1; then
					_filedir
				else
					mapfile -t COMPREPLY < <(compgen -f -- "$cur")
				fi
				return
				;;
		esac
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "-s --socket -h --help --version" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$(_tunctl_commands "${ctl[@]}")" -- "$cur")
		fi
		return
	fi

	local nargs=$((cword - cmd_at))   # 1: the first argument after the command
	case $cmd in
		status | peers | netcheck)
			mapfile -t COMPREPLY < <(compgen -W "--json" -- "$cur")
			;;
		ping)
			if [[ $cur == -* ]]; then
				mapfile -t COMPREPLY < <(compgen -W "-c --json" -- "$cur")
			elif [ "$prev" != -c ]; then
				mapfile -t COMPREPLY < <(compgen -W "$(_tunctl_peers any "${ctl[@]}")" -- "$cur")
			fi
			;;
		connect | disconnect)
			[ "$nargs" = 1 ] &&
				mapfile -t COMPREPLY < <(compgen -W "$(_tunctl_peers any "${ctl[@]}")" -- "$cur")
			;;
		revoke)
			[ "$nargs" = 1 ] &&
				mapfile -t COMPREPLY < <(compgen -W "$(_tunctl_peers client "${ctl[@]}")" -- "$cur")
			;;
		id)
			mapfile -t COMPREPLY < <(compgen -W "--private" -- "$cur")
			;;
		help)
			[ "$nargs" = 1 ] &&
				mapfile -t COMPREPLY < <(compgen -W "$(_tunctl_commands "${ctl[@]}")" -- "$cur")
			;;
	esac
	return 0
}

complete -F _tunctl tunctl
