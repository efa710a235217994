# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_bd_policy_global_optspecs
    string join \n p/policy= overlay= require-signed operator-keys= mode= state= pin-dir= rate-state= h/help V/version
end

function __fish_bd_policy_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_bd_policy_global_optspecs) -- $cmd 2>/dev/null
    or argparse -s (__fish_bd_policy_global_optspecs) -- $cmd[1..-2] 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_bd_policy_using_subcommand
    set -l cmd (__fish_bd_policy_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c bd-policy -n "__fish_bd_policy_needs_command" -s p -l policy -d 'Policy file (TOML) to decide by' -r -F
complete -c bd-policy -n "__fish_bd_policy_needs_command" -l overlay -d 'A tighten-only overlay (repeatable): its rules may deny, alert or trip a wire, never allow; where its decision is stricter than the policy\'s it wins, otherwise the policy\'s stands' -r -F
complete -c bd-policy -n "__fish_bd_policy_needs_command" -l operator-keys -d 'Trusted operator public keys: a directory of *.pub files or one file with a key per line' -r -F
complete -c bd-policy -n "__fish_bd_policy_needs_command" -l mode -d 'Use this mode instead of reading the state file and the kernel map' -r -f -a "OPEN\t''
RESTRICTED\t''
TRUSTED\t''
AIRGAP\t''
COLDROOM\t''
LOCKDOWN\t''"
complete -c bd-policy -n "__fish_bd_policy_needs_command" -l state -d 'bd-lock state file to read the current mode from' -r -F
complete -c bd-policy -n "__fish_bd_policy_needs_command" -l pin-dir -d 'bpffs pin directory of the bd_mode map (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-policy -n "__fish_bd_policy_needs_command" -l rate-state -d 'Where rate counters persist across restarts (needed when a rule has a rate)' -r -F
complete -c bd-policy -n "__fish_bd_policy_needs_command" -l require-signed -d 'Refuse (exit 1) a policy or overlay without a valid FILE.sig by a trusted operator key; while running, a change to any of the files is reported as a tripwire decision (LOCKDOWN), and the policy loaded at start stays in force'
complete -c bd-policy -n "__fish_bd_policy_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-policy -n "__fish_bd_policy_needs_command" -s V -l version -d 'Print version'
complete -c bd-policy -n "__fish_bd_policy_needs_command" -f -a "check" -d 'Validate policy files; report every error as FILE:LINE:COLUMN: message'
complete -c bd-policy -n "__fish_bd_policy_needs_command" -f -a "test" -d 'Check expected decisions from a file of cases; report rules no case hits'
complete -c bd-policy -n "__fish_bd_policy_needs_command" -f -a "sign" -d 'Sign policy or overlay files with an operator key (writes FILE.sig)'
complete -c bd-policy -n "__fish_bd_policy_needs_command" -f -a "explain" -d 'Show which rule an event hits and why each other rule does not'
complete -c bd-policy -n "__fish_bd_policy_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand check" -l overlay -d 'Overlay files to check (as overlays: a rule that allows is an error)' -r -F
complete -c bd-policy -n "__fish_bd_policy_using_subcommand check" -l json -d 'One policy_check JSON line per file on stdout ({"file","ok","rules", "warnings","errors":[{"line","col","message"}]}); an unreadable file is an error object. The FILE:LINE:COLUMN lines still go to stderr'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand check" -s h -l help -d 'Print help'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand test" -l overlay -d 'A tighten-only overlay (repeatable): its rules may deny, alert or trip a wire, never allow; where its decision is stricter than the policy\'s it wins, otherwise the policy\'s stands' -r -F
complete -c bd-policy -n "__fish_bd_policy_using_subcommand test" -l operator-keys -d 'Trusted operator public keys: a directory of *.pub files or one file with a key per line' -r -F
complete -c bd-policy -n "__fish_bd_policy_using_subcommand test" -l require-signed -d 'Refuse (exit 1) a policy or overlay without a valid FILE.sig by a trusted operator key; while running, a change to any of the files is reported as a tripwire decision (LOCKDOWN), and the policy loaded at start stays in force'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand test" -l require-coverage -d 'Exit 1 also when some rule is hit by no case'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand test" -l json -d 'One policy_test JSON line on stdout instead of the report ({"cases","passed","failed","malformed","rules","unhit","failures"})'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand test" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand sign" -s k -l key -d 'Operator secret key file' -r -F
complete -c bd-policy -n "__fish_bd_policy_using_subcommand sign" -l overlay -d 'Sign the files as overlays (they can then be given to --overlay only)'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand sign" -l json -d 'One policy_signed JSON line per file on stdout'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand sign" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand explain" -s p -l policy -d 'Policy file' -r -F
complete -c bd-policy -n "__fish_bd_policy_using_subcommand explain" -l overlay -d 'A tighten-only overlay (repeatable): its rules may deny, alert or trip a wire, never allow; where its decision is stricter than the policy\'s it wins, otherwise the policy\'s stands' -r -F
complete -c bd-policy -n "__fish_bd_policy_using_subcommand explain" -l operator-keys -d 'Trusted operator public keys: a directory of *.pub files or one file with a key per line' -r -F
complete -c bd-policy -n "__fish_bd_policy_using_subcommand explain" -l mode -d 'Use this mode instead of reading the state file and the kernel map' -r -f -a "OPEN\t''
RESTRICTED\t''
TRUSTED\t''
AIRGAP\t''
COLDROOM\t''
LOCKDOWN\t''"
complete -c bd-policy -n "__fish_bd_policy_using_subcommand explain" -l state -d 'bd-lock state file to read the current mode from' -r -F
complete -c bd-policy -n "__fish_bd_policy_using_subcommand explain" -l pin-dir -d 'bpffs pin directory of the bd_mode map (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-policy -n "__fish_bd_policy_using_subcommand explain" -l rate-state -d 'Rate state to read (not updated)' -r -F
complete -c bd-policy -n "__fish_bd_policy_using_subcommand explain" -l require-signed -d 'Refuse (exit 1) a policy or overlay without a valid FILE.sig by a trusted operator key; while running, a change to any of the files is reported as a tripwire decision (LOCKDOWN), and the policy loaded at start stays in force'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand explain" -l json -d 'One explanation JSON line on stdout ({"mode","decision","rule", "reason","tripwire","rules":[one line per rule]}); on failure an error object'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand explain" -s h -l help -d 'Print help'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand help; and not __fish_seen_subcommand_from check test sign explain help" -f -a "check" -d 'Validate policy files; report every error as FILE:LINE:COLUMN: message'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand help; and not __fish_seen_subcommand_from check test sign explain help" -f -a "test" -d 'Check expected decisions from a file of cases; report rules no case hits'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand help; and not __fish_seen_subcommand_from check test sign explain help" -f -a "sign" -d 'Sign policy or overlay files with an operator key (writes FILE.sig)'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand help; and not __fish_seen_subcommand_from check test sign explain help" -f -a "explain" -d 'Show which rule an event hits and why each other rule does not'
complete -c bd-policy -n "__fish_bd_policy_using_subcommand help; and not __fish_seen_subcommand_from check test sign explain help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
