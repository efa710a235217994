complete -c bd-policy -s h -l help -d 'Print help'
complete -c bd-policy -s V -l version -d 'Print version'
