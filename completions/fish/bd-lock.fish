complete -c bd-lock -s h -l help -d 'Print help'
complete -c bd-lock -s V -l version -d 'Print version'
