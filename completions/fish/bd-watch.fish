complete -c bd-watch -l pin-dir -d 'bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary]' -r -F
complete -c bd-watch -l type -d 'Only these event types (repeatable or comma-separated)' -r -f -a "exec\t''
deny\t''
lost\t''
usb\t'USB devices plugged or removed (from kernel uevents)'"
complete -c bd-watch -l uid -d 'Only events by this uid (repeatable)' -r
complete -c bd-watch -l comm -d 'Only events whose comm (process name, at most 15 bytes) is exactly this (repeatable)' -r
complete -c bd-watch -l cgroup -d 'Only events from this cgroup: a cgroup v2 directory or a numeric cgroup id (repeatable)' -r
complete -c bd-watch -l pid -d 'Only events by this process id (tgid) (repeatable)' -r
complete -c bd-watch -l ppid -d 'Only exec events whose parent is this process id (repeatable)' -r
complete -c bd-watch -s n -l count -d 'Stop after N matching exec/deny events (lost lines are not counted)' -r
complete -c bd-watch -l timeout -d 'Stop after this long (e.g. 500ms, 10s, 2m)' -r
complete -c bd-watch -l no-usb -d 'Do not watch USB hot-plug: no `usb` events, and new USB devices the mode allows stay unauthorised from AIRGAP up (see USB in bd-lock(1))'
complete -c bd-watch -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-watch -s V -l version -d 'Print version'
