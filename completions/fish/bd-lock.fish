# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_bd_lock_global_optspecs
    string join \n state= pin-dir= operator-keys= operators-config= machine-id= json h/help V/version
end

function __fish_bd_lock_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_bd_lock_global_optspecs) -- $cmd 2>/dev/null
    or argparse -s (__fish_bd_lock_global_optspecs) -- $cmd[1..-2] 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_bd_lock_using_subcommand
    set -l cmd (__fish_bd_lock_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c bd-lock -n "__fish_bd_lock_needs_command" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_needs_command" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_needs_command" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_needs_command" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_needs_command" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_needs_command" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -s V -l version -d 'Print version'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "status" -d 'Show the current mode, its reason, the kernel map and the dead-man switch'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "init" -d 'Create the state file on a fresh system (refused if any state exists)'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "sync" -d 'Copy the state file\'s mode into a freshly loaded kernel map (or a looser one)'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "set" -d 'Change the mode. Tightening is immediate; loosening is refused (use release)'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "engage" -d 'Engage LOCKDOWN now'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "release" -d 'Loosen the mode by ceremony: a signed release token, or interactively on a terminal'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "keygen" -d 'Make an operator key pair: FILE (secret, mode 0600) and FILE.pub'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "token" -d 'Make a signed release token for one loosening transition'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "cosign" -d 'Countersign a release token with another operator key (for a quorum release)'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "on-tripwire" -d 'Read decisions on stdin; engage the tripwire\'s mode on the first tripwire decision'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "arm" -d 'Arm the dead-man switch: without a heartbeat within DURATION the kernel acts as LOCKDOWN'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "heartbeat" -d 'Move the dead-man deadline forward by the armed interval'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "disarm" -d 'Disarm the dead-man switch (a ceremony if the deadline has already passed)'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "allow" -d 'Add files (by device and inode) to the LOCKDOWN exec allow list, or remove them'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "canary" -d 'In-kernel canaries: files whose exec (or, with BPF-LSM, open) raises the mode in the kernel'
complete -c bd-lock -n "__fish_bd_lock_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand status" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand status" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand status" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand status" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand status" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand status" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand status" -s h -l help -d 'Print help'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand init" -l mode -d 'Starting mode' -r -f -a "OPEN\t''
RESTRICTED\t''
TRUSTED\t''
AIRGAP\t''
COLDROOM\t''
LOCKDOWN\t''"
complete -c bd-lock -n "__fish_bd_lock_using_subcommand init" -l reason -d 'Why (recorded in the state file and the mode event)' -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand init" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand init" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand init" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand init" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand init" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand init" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand init" -s h -l help -d 'Print help'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand sync" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand sync" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand sync" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand sync" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand sync" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand sync" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand sync" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand set" -l reason -d 'Why (recorded in the state file and the mode event)' -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand set" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand set" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand set" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand set" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand set" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand set" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand set" -s h -l help -d 'Print help'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand engage" -l reason -d 'Why (recorded in the state file and the mode event; required, so the log says who pulled the alarm and for what)' -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand engage" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand engage" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand engage" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand engage" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand engage" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand engage" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand engage" -s h -l help -d 'Print help'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand release" -l token -d 'Operator-signed release token file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand release" -l to -d 'The mode to release to (default: the token\'s)' -r -f -a "OPEN\t''
RESTRICTED\t''
TRUSTED\t''
AIRGAP\t''
COLDROOM\t''
LOCKDOWN\t''"
complete -c bd-lock -n "__fish_bd_lock_using_subcommand release" -l reason -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand release" -l cooling-off -d 'Cooling-off delay for --interactive (at least 10s)' -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand release" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand release" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand release" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand release" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand release" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand release" -l interactive -d 'Confirm on the terminal: type a phrase, then wait out the cooling-off delay'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand release" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand release" -s h -l help -d 'Print help'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand keygen" -s o -l output -d 'Secret key file to create' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand keygen" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand keygen" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand keygen" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand keygen" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand keygen" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand keygen" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand keygen" -s h -l help -d 'Print help'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -s k -l key -d 'Operator secret key (from bd-lock keygen)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -l from -d 'The mode the system must be in for the token to apply' -r -f -a "OPEN\t''
RESTRICTED\t''
TRUSTED\t''
AIRGAP\t''
COLDROOM\t''
LOCKDOWN\t''"
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -l to -d 'The mode it releases to' -r -f -a "OPEN\t''
RESTRICTED\t''
TRUSTED\t''
AIRGAP\t''
COLDROOM\t''
LOCKDOWN\t''"
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -l seq -d 'The state\'s transition seq the token releases (default: the current seq of --state; see bd-lock status)' -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -l host -d 'The machine-id of the host it is for (default: this host\'s, from --machine-id)' -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -l expires -d 'How long the token is valid (humantime, e.g. 15m, 2h)' -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -s o -l output -d 'Token file to write (standard output if absent)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand token" -s h -l help -d 'Print help'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand cosign" -s k -l key -d 'Operator secret key (from bd-lock keygen)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand cosign" -s o -l output -d 'Write the countersigned token here instead (refused if it exists)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand cosign" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand cosign" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand cosign" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand cosign" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand cosign" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand cosign" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand cosign" -s h -l help -d 'Print help'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand on-tripwire" -l heartbeat -d 'Arm the dead-man switch and keep it alive while the whole pipeline moves' -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand on-tripwire" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand on-tripwire" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand on-tripwire" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand on-tripwire" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand on-tripwire" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand on-tripwire" -l tee -d 'Copy every input line to standard output (before any mode event)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand on-tripwire" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand on-tripwire" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand arm" -l heartbeat -d 'How long the kernel waits for the next heartbeat before acting as LOCKDOWN (humantime, e.g. 30s, 5m)' -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand arm" -l token -d 'Operator-signed release token file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand arm" -l to -d 'The mode to release to (default: the token\'s)' -r -f -a "OPEN\t''
RESTRICTED\t''
TRUSTED\t''
AIRGAP\t''
COLDROOM\t''
LOCKDOWN\t''"
complete -c bd-lock -n "__fish_bd_lock_using_subcommand arm" -l reason -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand arm" -l cooling-off -d 'Cooling-off delay for --interactive (at least 10s)' -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand arm" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand arm" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand arm" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand arm" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand arm" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand arm" -l interactive -d 'Confirm on the terminal: type a phrase, then wait out the cooling-off delay'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand arm" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand arm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand heartbeat" -l token -d 'Operator-signed release token file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand heartbeat" -l to -d 'The mode to release to (default: the token\'s)' -r -f -a "OPEN\t''
RESTRICTED\t''
TRUSTED\t''
AIRGAP\t''
COLDROOM\t''
LOCKDOWN\t''"
complete -c bd-lock -n "__fish_bd_lock_using_subcommand heartbeat" -l reason -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand heartbeat" -l cooling-off -d 'Cooling-off delay for --interactive (at least 10s)' -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand heartbeat" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand heartbeat" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand heartbeat" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand heartbeat" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand heartbeat" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand heartbeat" -l interactive -d 'Confirm on the terminal: type a phrase, then wait out the cooling-off delay'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand heartbeat" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand heartbeat" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand disarm" -l token -d 'Operator-signed release token file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand disarm" -l to -d 'The mode to release to (default: the token\'s)' -r -f -a "OPEN\t''
RESTRICTED\t''
TRUSTED\t''
AIRGAP\t''
COLDROOM\t''
LOCKDOWN\t''"
complete -c bd-lock -n "__fish_bd_lock_using_subcommand disarm" -l reason -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand disarm" -l cooling-off -d 'Cooling-off delay for --interactive (at least 10s)' -r
complete -c bd-lock -n "__fish_bd_lock_using_subcommand disarm" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand disarm" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand disarm" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand disarm" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand disarm" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand disarm" -l interactive -d 'Confirm on the terminal: type a phrase, then wait out the cooling-off delay'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand disarm" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand disarm" -s h -l help -d 'Print help'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand allow" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand allow" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand allow" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand allow" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand allow" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand allow" -l remove -d 'Remove instead of add'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand allow" -l libs -d 'Also allow what each binary maps executable at start: its ELF interpreter and DT_NEEDED closure, as the interpreter resolves them (`INTERP --list PATH`, what ldd runs). dlopen\'ed libraries are not seen: allow them by name'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand allow" -l device -d 'Trust the whole filesystem each PATH is on, by device, while it is mounted read-only (e.g. a dm-verity or squashfs /usr): the kernel checks the read-only flag at every exec and mapping. Refused for a read-write mount'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand allow" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand allow" -s h -l help -d 'Print help'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and not __fish_seen_subcommand_from add list remove help" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and not __fish_seen_subcommand_from add list remove help" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and not __fish_seen_subcommand_from add list remove help" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and not __fish_seen_subcommand_from add list remove help" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and not __fish_seen_subcommand_from add list remove help" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and not __fish_seen_subcommand_from add list remove help" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and not __fish_seen_subcommand_from add list remove help" -s h -l help -d 'Print help'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and not __fish_seen_subcommand_from add list remove help" -f -a "add" -d 'Register files (by device and inode) as canaries'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and not __fish_seen_subcommand_from add list remove help" -f -a "list" -d 'List the registered canaries (device, inode, mode, hits)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and not __fish_seen_subcommand_from add list remove help" -f -a "remove" -d 'Unregister canaries (loosening: refused unless the mode is OPEN)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and not __fish_seen_subcommand_from add list remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from add" -l trip -d 'The mode the canary raises to (never lowers)' -r -f -a "OPEN\t''
RESTRICTED\t''
TRUSTED\t''
AIRGAP\t''
COLDROOM\t''
LOCKDOWN\t''"
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from add" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from add" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from add" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from add" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from add" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from add" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from list" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from list" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from list" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from list" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from list" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from list" -l json -d 'One JSON object per canary instead of text'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from remove" -l state -d 'State file' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from remove" -l pin-dir -d 'bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from remove" -l operator-keys -d 'Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from remove" -l operators-config -d 'Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from remove" -l machine-id -d 'This host\'s identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits)' -r -F
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from remove" -l json -d 'JSON lines on stdout for every subcommand: `status` prints one mode_status object, `keygen` an operator_key line, `allow` an exec_allow line per file; on failure one error object ({"v":1,"type":"error","code":N,...}) while the message still goes to stderr. Transitions print their mode lines either way'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "add" -d 'Register files (by device and inode) as canaries'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the registered canaries (device, inode, mode, hits)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Unregister canaries (loosening: refused unless the mode is OPEN)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "status" -d 'Show the current mode, its reason, the kernel map and the dead-man switch'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "init" -d 'Create the state file on a fresh system (refused if any state exists)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "sync" -d 'Copy the state file\'s mode into a freshly loaded kernel map (or a looser one)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "set" -d 'Change the mode. Tightening is immediate; loosening is refused (use release)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "engage" -d 'Engage LOCKDOWN now'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "release" -d 'Loosen the mode by ceremony: a signed release token, or interactively on a terminal'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "keygen" -d 'Make an operator key pair: FILE (secret, mode 0600) and FILE.pub'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "token" -d 'Make a signed release token for one loosening transition'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "cosign" -d 'Countersign a release token with another operator key (for a quorum release)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "on-tripwire" -d 'Read decisions on stdin; engage the tripwire\'s mode on the first tripwire decision'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "arm" -d 'Arm the dead-man switch: without a heartbeat within DURATION the kernel acts as LOCKDOWN'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "heartbeat" -d 'Move the dead-man deadline forward by the armed interval'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "disarm" -d 'Disarm the dead-man switch (a ceremony if the deadline has already passed)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "allow" -d 'Add files (by device and inode) to the LOCKDOWN exec allow list, or remove them'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "canary" -d 'In-kernel canaries: files whose exec (or, with BPF-LSM, open) raises the mode in the kernel'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and not __fish_seen_subcommand_from status init sync set engage release keygen token cosign on-tripwire arm heartbeat disarm allow canary help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "add" -d 'Register files (by device and inode) as canaries'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "list" -d 'List the registered canaries (device, inode, mode, hits)'
complete -c bd-lock -n "__fish_bd_lock_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "remove" -d 'Unregister canaries (loosening: refused unless the mode is OPEN)'
