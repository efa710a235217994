complete -c bd-inject -l name -d 'Name of a secret; the child gets NAME_FILE=/proc/self/fd/N (repeatable)' -r
complete -c bd-inject -l from-file -d 'Read the preceding --name\'s secret from this file' -r -F
complete -c bd-inject -l from-env -d 'Read the preceding --name\'s secret from this environment variable (which is then removed from CMD\'s environment)' -r
complete -c bd-inject -l pin-dir -d 'bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary]' -r -F
complete -c bd-inject -l env -d 'Also put the preceding --name\'s value itself in CMD\'s environment as NAME'
complete -c bd-inject -l allow-empty -d 'Accept an empty secret (refused by default: an empty secret is almost always a missing file, an unset variable or Enter pressed at the prompt)'
complete -c bd-inject -l require-protection -d 'Fail (exit 125) instead of running CMD unprotected when the BPF-LSM programs are not loaded'
complete -c bd-inject -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-inject -s V -l version -d 'Print version'
