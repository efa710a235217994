complete -c bd-inject -s h -l help -d 'Print help'
complete -c bd-inject -s V -l version -d 'Print version'
