# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_bd_load_global_optspecs
    string join \n pin-dir= cgroup= ring-size= require= replace json without-self-protection seal= unix-allow= h/help V/version
end

function __fish_bd_load_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_bd_load_global_optspecs) -- $cmd 2>/dev/null
    or argparse -s (__fish_bd_load_global_optspecs) -- $cmd[1..-2] 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_bd_load_using_subcommand
    set -l cmd (__fish_bd_load_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c bd-load -n "__fish_bd_load_needs_command" -l pin-dir -d 'bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary]' -r -F
complete -c bd-load -n "__fish_bd_load_needs_command" -l cgroup -d 'Cgroup (v2 directory) to attach the cgroup programs to; `/` means the root of the cgroup2 mount: every process of the host (of the cgroup namespace), so none can leave the governed cgroup' -r -F
complete -c bd-load -n "__fish_bd_load_needs_command" -l ring-size -d 'Size of the event ring buffer in bytes: a power of two, at least 4096. Applies when the buffer is created (first load); unload to resize' -r
complete -c bd-load -n "__fish_bd_load_needs_command" -l require -d 'Fail (exit 6, kernel lacks a feature) unless this kind of program can load and attach here' -r -f -a "lsm\t'BPF-LSM programs must load and attach'"
complete -c bd-load -n "__fish_bd_load_needs_command" -l seal -d 'A file, or a directory with every file and directory below it, that self-protection keeps unchanged above OPEN (no write, truncate, chmod, chown, xattr, create, link, unlink, rename, or mount on it or on a directory above it; in a sealed directory only boundary\'s own executables change entries, new ones included) and that bd-lock checks, by device and inode, before trusting operator keys, the quorum or the machine-id. The defaults include the state directory (/var/lib/boundary): seal yours too if BD_STATE moves it (bd-load knows it by BD_STATE). A bind onto the state directory itself is let through (systemd binds it onto itself for boundary\'s units); bd-lock then reads and writes mode state only in that sealed directory. Repeat for more; given once, it replaces the defaults. Recorded at each load in mode OPEN only (above OPEN the record stays as it is); a missing path is named on stderr and not sealed' -r -F
complete -c bd-load -n "__fish_bd_load_needs_command" -l unix-allow -d 'An AF_UNIX socket a task of the governed cgroup may still connect or send to from AIRGAP up although it was made outside that cgroup (every other such socket is refused: a daemon outside could reach the network for it). Recorded by the socket\'s device and inode when the programs are loaded; a socket bound again later (the daemon restarted) is another inode and refused until the next load. Repeat for more; given once, it replaces the defaults (journald\'s sockets and /dev/log); a path that is not a socket is named on stderr and skipped' -r -F
complete -c bd-load -n "__fish_bd_load_needs_command" -l replace -d 'Replace programs that are already attached with this binary\'s'
complete -c bd-load -n "__fish_bd_load_needs_command" -l json -d 'Print one JSON line per program on stdout (the default prints a table)'
complete -c bd-load -n "__fish_bd_load_needs_command" -l without-self-protection -d 'Do not load the self_protect programs nor record boundary\'s own executables and objects: anyone root can then edit the maps, unpin and detach. For tests that must show an attack working; never in production'
complete -c bd-load -n "__fish_bd_load_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-load -n "__fish_bd_load_needs_command" -s V -l version -d 'Print version'
complete -c bd-load -n "__fish_bd_load_needs_command" -f -a "load" -d 'Load, attach and pin the programs (the default)'
complete -c bd-load -n "__fish_bd_load_needs_command" -f -a "status" -d 'Show attached programs, maps, event and loss counters, kernel features'
complete -c bd-load -n "__fish_bd_load_needs_command" -f -a "unload" -d 'Detach every program and remove every pin and the pin dir'
complete -c bd-load -n "__fish_bd_load_needs_command" -f -a "protect" -d 'Protect processes (and the children they fork) or files with BPF-LSM'
complete -c bd-load -n "__fish_bd_load_needs_command" -f -a "unprotect" -d 'Remove processes or files from protection'
complete -c bd-load -n "__fish_bd_load_needs_command" -f -a "allow" -d 'Let processes through every shield (a debugger, a backup agent); with --remove take them off the allow list'
complete -c bd-load -n "__fish_bd_load_needs_command" -f -a "lsm-config" -d 'Set which accesses to protected processes are refused, and enforce or audit. With no option, print the current setting'
complete -c bd-load -n "__fish_bd_load_needs_command" -f -a "lsm-list" -d 'Print the protected pids, allowed pids, protected files and policy (JSON)'
complete -c bd-load -n "__fish_bd_load_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bd-load -n "__fish_bd_load_using_subcommand load" -l cgroup -d 'Cgroup (v2 directory) to attach the cgroup programs to; `/` means the root of the cgroup2 mount: every process of the host (of the cgroup namespace), so none can leave the governed cgroup' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand load" -l ring-size -d 'Size of the event ring buffer in bytes: a power of two, at least 4096. Applies when the buffer is created (first load); unload to resize' -r
complete -c bd-load -n "__fish_bd_load_using_subcommand load" -l require -d 'Fail (exit 6, kernel lacks a feature) unless this kind of program can load and attach here' -r -f -a "lsm\t'BPF-LSM programs must load and attach'"
complete -c bd-load -n "__fish_bd_load_using_subcommand load" -l seal -d 'A file, or a directory with every file and directory below it, that self-protection keeps unchanged above OPEN (no write, truncate, chmod, chown, xattr, create, link, unlink, rename, or mount on it or on a directory above it; in a sealed directory only boundary\'s own executables change entries, new ones included) and that bd-lock checks, by device and inode, before trusting operator keys, the quorum or the machine-id. The defaults include the state directory (/var/lib/boundary): seal yours too if BD_STATE moves it (bd-load knows it by BD_STATE). A bind onto the state directory itself is let through (systemd binds it onto itself for boundary\'s units); bd-lock then reads and writes mode state only in that sealed directory. Repeat for more; given once, it replaces the defaults. Recorded at each load in mode OPEN only (above OPEN the record stays as it is); a missing path is named on stderr and not sealed' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand load" -l unix-allow -d 'An AF_UNIX socket a task of the governed cgroup may still connect or send to from AIRGAP up although it was made outside that cgroup (every other such socket is refused: a daemon outside could reach the network for it). Recorded by the socket\'s device and inode when the programs are loaded; a socket bound again later (the daemon restarted) is another inode and refused until the next load. Repeat for more; given once, it replaces the defaults (journald\'s sockets and /dev/log); a path that is not a socket is named on stderr and skipped' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand load" -l pin-dir -d 'bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary]' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand load" -l replace -d 'Replace programs that are already attached with this binary\'s'
complete -c bd-load -n "__fish_bd_load_using_subcommand load" -l json -d 'Print one JSON line per program on stdout (the default prints a table)'
complete -c bd-load -n "__fish_bd_load_using_subcommand load" -l without-self-protection -d 'Do not load the self_protect programs nor record boundary\'s own executables and objects: anyone root can then edit the maps, unpin and detach. For tests that must show an attack working; never in production'
complete -c bd-load -n "__fish_bd_load_using_subcommand load" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-load -n "__fish_bd_load_using_subcommand status" -l textfile -d 'Write the Prometheus text to FILE atomically instead (for node_exporter\'s textfile collector, e.g. from a timer)' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand status" -l state -d 'bd-lock state file the mode is read from (Prometheus output only)' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand status" -l seal -d 'Paths whose seal to report (as given to load\'s --seal; repeatable): each is shown sealed or not by its current device and inode' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand status" -l pin-dir -d 'bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary]' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand status" -l json -d 'One JSON object on stdout instead of text'
complete -c bd-load -n "__fish_bd_load_using_subcommand status" -l prometheus -d 'Prometheus text exposition format on stdout: events, losses, denials, programs, mode and dead-man deadline (metric names in bd-load(1))'
complete -c bd-load -n "__fish_bd_load_using_subcommand status" -s h -l help -d 'Print help'
complete -c bd-load -n "__fish_bd_load_using_subcommand unload" -l pin-dir -d 'bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary]' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand unload" -l json -d 'One JSON object on stdout: {"v":1,"type":"unload","pin_dir", "removed":[pins]} (on failure an error object)'
complete -c bd-load -n "__fish_bd_load_using_subcommand unload" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-load -n "__fish_bd_load_using_subcommand protect" -l pid -d 'Process id (tgid) to act on; repeatable' -r
complete -c bd-load -n "__fish_bd_load_using_subcommand protect" -l path -d 'File to act on (by device and inode); repeatable' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand protect" -l pin-dir -d 'bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary]' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand protect" -l require-clean -d 'Exit with status 1 if a protected process already has a tracer or open /proc/PID/mem fds, or a BPF tracing program that is not boundary\'s is loaded (it stays protected; those accesses do not end until their holders let go)'
complete -c bd-load -n "__fish_bd_load_using_subcommand protect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-load -n "__fish_bd_load_using_subcommand unprotect" -l pid -d 'Process id (tgid) to act on; repeatable' -r
complete -c bd-load -n "__fish_bd_load_using_subcommand unprotect" -l path -d 'File to act on (by device and inode); repeatable' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand unprotect" -l pin-dir -d 'bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary]' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand unprotect" -s h -l help -d 'Print help'
complete -c bd-load -n "__fish_bd_load_using_subcommand allow" -l pid -d 'Process id (tgid) to allow; repeatable' -r
complete -c bd-load -n "__fish_bd_load_using_subcommand allow" -l pin-dir -d 'bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary]' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand allow" -l remove -d 'Remove the pids from the allow list instead'
complete -c bd-load -n "__fish_bd_load_using_subcommand allow" -s h -l help -d 'Print help'
complete -c bd-load -n "__fish_bd_load_using_subcommand lsm-config" -l pin-dir -d 'bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary]' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand lsm-config" -l audit -d 'Report would-be denials, deny nothing'
complete -c bd-load -n "__fish_bd_load_using_subcommand lsm-config" -l enforce -d 'Deny (the default mode)'
complete -c bd-load -n "__fish_bd_load_using_subcommand lsm-config" -l allow-environ-read -d 'Do not block PTRACE_MODE_READ checks: /proc/PID/environ, auxv, maps, stack, ...'
complete -c bd-load -n "__fish_bd_load_using_subcommand lsm-config" -l allow-mem-read -d 'Do not block /proc/PID/mem'
complete -c bd-load -n "__fish_bd_load_using_subcommand lsm-config" -l allow-ptrace -d 'Do not block ptrace attach, PTRACE_TRACEME, process_vm_readv/writev, pidfd_getfd'
complete -c bd-load -n "__fish_bd_load_using_subcommand lsm-config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-load -n "__fish_bd_load_using_subcommand lsm-list" -l pin-dir -d 'bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary]' -r -F
complete -c bd-load -n "__fish_bd_load_using_subcommand lsm-list" -s h -l help -d 'Print help'
complete -c bd-load -n "__fish_bd_load_using_subcommand help; and not __fish_seen_subcommand_from load status unload protect unprotect allow lsm-config lsm-list help" -f -a "load" -d 'Load, attach and pin the programs (the default)'
complete -c bd-load -n "__fish_bd_load_using_subcommand help; and not __fish_seen_subcommand_from load status unload protect unprotect allow lsm-config lsm-list help" -f -a "status" -d 'Show attached programs, maps, event and loss counters, kernel features'
complete -c bd-load -n "__fish_bd_load_using_subcommand help; and not __fish_seen_subcommand_from load status unload protect unprotect allow lsm-config lsm-list help" -f -a "unload" -d 'Detach every program and remove every pin and the pin dir'
complete -c bd-load -n "__fish_bd_load_using_subcommand help; and not __fish_seen_subcommand_from load status unload protect unprotect allow lsm-config lsm-list help" -f -a "protect" -d 'Protect processes (and the children they fork) or files with BPF-LSM'
complete -c bd-load -n "__fish_bd_load_using_subcommand help; and not __fish_seen_subcommand_from load status unload protect unprotect allow lsm-config lsm-list help" -f -a "unprotect" -d 'Remove processes or files from protection'
complete -c bd-load -n "__fish_bd_load_using_subcommand help; and not __fish_seen_subcommand_from load status unload protect unprotect allow lsm-config lsm-list help" -f -a "allow" -d 'Let processes through every shield (a debugger, a backup agent); with --remove take them off the allow list'
complete -c bd-load -n "__fish_bd_load_using_subcommand help; and not __fish_seen_subcommand_from load status unload protect unprotect allow lsm-config lsm-list help" -f -a "lsm-config" -d 'Set which accesses to protected processes are refused, and enforce or audit. With no option, print the current setting'
complete -c bd-load -n "__fish_bd_load_using_subcommand help; and not __fish_seen_subcommand_from load status unload protect unprotect allow lsm-config lsm-list help" -f -a "lsm-list" -d 'Print the protected pids, allowed pids, protected files and policy (JSON)'
complete -c bd-load -n "__fish_bd_load_using_subcommand help; and not __fish_seen_subcommand_from load status unload protect unprotect allow lsm-config lsm-list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
