complete -c bd-load -s h -l help -d 'Print help'
complete -c bd-load -s V -l version -d 'Print version'
