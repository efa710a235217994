complete -c bd-watch -s h -l help -d 'Print help'
complete -c bd-watch -s V -l version -d 'Print version'
