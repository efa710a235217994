complete -c bd-log -s h -l help -d 'Print help'
complete -c bd-log -s V -l version -d 'Print version'
