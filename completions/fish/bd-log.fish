# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_bd_log_global_optspecs
    string join \n h/help V/version
end

function __fish_bd_log_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_bd_log_global_optspecs) -- $cmd 2>/dev/null
    or argparse -s (__fish_bd_log_global_optspecs) -- $cmd[1..-2] 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_bd_log_using_subcommand
    set -l cmd (__fish_bd_log_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c bd-log -n "__fish_bd_log_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-log -n "__fish_bd_log_needs_command" -s V -l version -d 'Print version'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "keygen" -d 'Create a signing key pair: KEY (secret, mode 0600) and KEY.pub'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "append" -d 'Append JSON lines from stdin to the log, with signed checkpoints'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "verify" -d 'Check every link, checkpoint signature, seq and time order'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "checkpoint" -d 'Print the latest checkpoint line or note (to keep elsewhere as an anchor)'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "show" -d 'Print entries as JSON lines (all, by seq, or since a time)'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "tail" -d 'Print the last entries as JSON lines'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "note" -d 'Print a C2SP tlog-checkpoint (signed note) over the log\'s Merkle tree'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "prove" -d 'Export entries with RFC 6962 inclusion proofs against a signed note'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "verify-excerpt" -d 'Check an excerpt from `bd-log prove` with only the public key'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "witness" -d 'Get a checkpoint note cosigned by C2SP tlog-witness witnesses'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "vkey" -d 'Print the log\'s identity key as the C2SP vkey a witness is configured with'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "rotate" -d 'Close the log with a checkpoint and continue its chain in a new file'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "repair" -d 'Move a torn last line aside so appends can continue'
complete -c bd-log -n "__fish_bd_log_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bd-log -n "__fish_bd_log_using_subcommand keygen" -s o -l output -d 'Secret key file to create (the public key goes to FILE.pub)' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand keygen" -l epochs -d 'Forward-secure epochs to make (append moves to the next one at most once per --epoch-interval, default 1h: 8784 is a year and a day); KEY.pub lists each one\'s public key (45 bytes an epoch)' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand keygen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-log -n "__fish_bd_log_using_subcommand append" -s l -l log -d 'The log file (created with a genesis checkpoint if missing or empty)' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand append" -s k -l key -d 'Secret key from `bd-log keygen` (must not be readable by group or others)' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand append" -s n -l checkpoint-every -d 'Write a signed checkpoint after this many entries' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand append" -s t -l checkpoint-interval -d 'Write a signed checkpoint when entries are this old and uncovered (e.g. 30s, 5m)' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand append" -l fsync -d 'When to fdatasync the log' -r -f -a "always\t'fdatasync after every write, before the lines count as acknowledged'
checkpoint\t'fdatasync after each checkpoint (in the background) and at the end of input (waited for)'
never\t'Never; leave it to the kernel'"
complete -c bd-log -n "__fish_bd_log_using_subcommand append" -l format -d 'Log format of a new log: 3 (prev is the line\'s RFC 6962 leaf hash) or 2 (prev is SHA-256 of the line, for verifiers older than v3). An existing log, and a file continuing a rotated one, keeps its own' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand append" -l epoch-interval -d 'Forward security: after a checkpoint, move the key to its next epoch once the current epoch is this old (the old seed is erased); 0s evolves at every checkpoint. `never` keeps one epoch' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand append" -l skip-invalid -d 'Report and skip lines that are not JSON instead of stopping (exit status 1 at the end)'
complete -c bd-log -n "__fish_bd_log_using_subcommand append" -l append-only -d 'Set the file\'s append-only attribute (chattr +a; needs root)'
complete -c bd-log -n "__fish_bd_log_using_subcommand append" -l ack -d 'After each write, print {"v":1,"type":"log_ack","time":T,"written":N,"seq":S} on stdout: N input lines are in the log, the last at seq S'
complete -c bd-log -n "__fish_bd_log_using_subcommand append" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-log -n "__fish_bd_log_using_subcommand verify" -s l -l log -d 'The log file; repeat for a rotated set, oldest first (LOG.2.gz, LOG.1, LOG). `-` reads stdin; a pattern with * ? or [ is expanded and the files ordered by where they sit in the chain; gzip and zstd members are read decompressed' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand verify" -s p -l pubkey -d 'Public key (KEY.pub from `bd-log keygen`)' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand verify" -s a -l anchor -d 'A checkpoint line or signed note exported earlier: the log\'s tree must extend it' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand verify" -s w -l witness-key -d 'A witness whose cosignature on the --anchor or --witnessed note counts: a C2SP vkey (name+id+key, type 0x04) or a file holding one. Repeat for each witness' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand verify" -s k -l witnesses-required -d 'How many distinct given witnesses must have cosigned (default: all given)' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand verify" -l witnessed -d 'The cosigned note `bd-log witness` wrote: an anchor that must carry the witness quorum and cover the log\'s latest checkpoint (see --max-unwitnessed). Needs --witness-key' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand verify" -l max-unwitnessed -d 'With --witnessed: how many log lines covered by checkpoints may lie beyond the witnessed tree (the checkpoints written since the note was made)' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand verify" -l json -d 'Print the result as one JSON object (also an error object when it cannot decide)'
complete -c bd-log -n "__fish_bd_log_using_subcommand verify" -s q -l quiet -d 'Print nothing when the log is valid (failures are still reported)'
complete -c bd-log -n "__fish_bd_log_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-log -n "__fish_bd_log_using_subcommand checkpoint" -s l -l log -d 'The log file' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand checkpoint" -s p -l pubkey -d 'Public key (KEY.pub from `bd-log keygen`) the log must verify under' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand checkpoint" -s k -l key -d 'With --note: the secret key, to add the log\'s identity signature (the one witnesses are configured with) next to the checkpoint\'s epoch signature. Without it the note carries the epoch signature only' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand checkpoint" -s o -l output -d 'Write the checkpoint to FILE (a random temp name, fsync, rename) instead of stdout. Above OPEN, boundary\'s sealed state directory accepts writes from boundary\'s own processes only: the verify unit advances its anchor this way, not through a shell redirection' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand checkpoint" -l note -d 'Print the checkpoint as a C2SP tlog-checkpoint signed note instead of the log line'
complete -c bd-log -n "__fish_bd_log_using_subcommand checkpoint" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-log -n "__fish_bd_log_using_subcommand show" -s l -l log -d 'The log file' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand show" -s s -l seq -d 'One seq (N) or a range (A..B, end exclusive; A.. or ..B)' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand show" -l since -d 'Only entries with ts at or after this: RFC 3339 time, or a duration ago (e.g. 1h)' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand show" -l until -d 'Only entries with ts before this: RFC 3339 time, or a duration ago (e.g. 10m)' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand show" -s r -l records -d 'Print only the records (skip checkpoints)'
complete -c bd-log -n "__fish_bd_log_using_subcommand show" -s f -l follow -d 'After the end of the log, keep printing lines as they are appended (follows a rotation)'
complete -c bd-log -n "__fish_bd_log_using_subcommand show" -s h -l help -d 'Print help'
complete -c bd-log -n "__fish_bd_log_using_subcommand tail" -s l -l log -d 'The log file' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand tail" -s n -l lines -d 'How many lines' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand tail" -l since -d 'Only entries with ts at or after this: RFC 3339 time, or a duration ago (e.g. 1h)' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand tail" -s r -l records -d 'Print only the records (skip checkpoints)'
complete -c bd-log -n "__fish_bd_log_using_subcommand tail" -s h -l help -d 'Print help'
complete -c bd-log -n "__fish_bd_log_using_subcommand note" -s l -l log -d 'The log file(s), oldest first, or a quoted pattern (as verify)' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand note" -s k -l key -d 'Secret key the log is signed with' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand note" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-log -n "__fish_bd_log_using_subcommand prove" -s l -l log -d 'The log file(s), oldest first, or a quoted pattern (as verify)' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand prove" -s p -l pubkey -d 'Public key of the log' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand prove" -l note -d 'The signed note (from `bd-log note`) the proofs are against' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand prove" -s s -l seq -d 'One seq (N) or a range (A..B, end exclusive)' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand prove" -s a -l anchor -d 'An earlier note: add the consistency proof from it to NOTE' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand prove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-log -n "__fish_bd_log_using_subcommand verify-excerpt" -s p -l pubkey -d 'Public key of the log' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand verify-excerpt" -s e -l excerpt -d 'The excerpt (`-` for stdin)' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand verify-excerpt" -s a -l anchor -d 'An earlier note the excerpt\'s note must be consistent with' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand verify-excerpt" -s w -l witness-key -d 'A witness whose cosignature counts: a C2SP vkey (name+id+key, type 0x04) or a file holding one. Repeat for each witness' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand verify-excerpt" -s k -l witnesses-required -d 'How many distinct given witnesses must have cosigned the note (default: all given)' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand verify-excerpt" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-log -n "__fish_bd_log_using_subcommand witness" -s l -l log -d 'The log file(s), oldest first, or a quoted pattern (as verify); the proofs come from it' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand witness" -s p -l pubkey -d 'Public key of the log (the note must be signed by it)' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand witness" -l note -d 'The signed note to have cosigned (from `bd-log note`); rewritten with the cosignatures' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand witness" -l old -d 'The note the witnesses last cosigned, if known: its size is the first old size sent' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand witness" -s u -l url -d 'A witness\'s submission URL prefix (add-checkpoint is appended). Repeat per witness' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand witness" -s w -l witness-key -d 'The witness\'s key for the --url at the same position: a C2SP vkey or a file holding one' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand witness" -s k -l witnesses-required -d 'How many witnesses must cosign for exit status 0 (default: all given)' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand witness" -s o -l output -d 'Write the cosigned note here instead of replacing NOTE (`-` for stdout)' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand witness" -l timeout -d 'Give up on a witness after this long (e.g. 10s, 1m)' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand witness" -l ca-cert -d 'Trust only the CA certificate(s) in this PEM file for https witnesses (as curl --cacert), e.g. a fleet\'s private CA; default: the system\'s trust store' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand witness" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-log -n "__fish_bd_log_using_subcommand vkey" -s k -l key -d 'Secret key of the log (the identity key is stored in it)' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand vkey" -s l -l log -d 'The log (or any file of a rotated set): its first line names the origin' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand vkey" -l origin -d 'The origin, instead of reading it from the log' -r
complete -c bd-log -n "__fish_bd_log_using_subcommand vkey" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-log -n "__fish_bd_log_using_subcommand rotate" -s l -l log -d 'The log file the running appender writes' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand rotate" -s k -l key -d 'Secret key the log is signed with (the closing and the continuation checkpoint need it)' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand rotate" -l to -d 'Name for the closed file (default LOG.1); refused if it exists' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand rotate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-log -n "__fish_bd_log_using_subcommand repair" -s l -l log -d 'The log file' -r -F
complete -c bd-log -n "__fish_bd_log_using_subcommand repair" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "keygen" -d 'Create a signing key pair: KEY (secret, mode 0600) and KEY.pub'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "append" -d 'Append JSON lines from stdin to the log, with signed checkpoints'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "verify" -d 'Check every link, checkpoint signature, seq and time order'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "checkpoint" -d 'Print the latest checkpoint line or note (to keep elsewhere as an anchor)'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "show" -d 'Print entries as JSON lines (all, by seq, or since a time)'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "tail" -d 'Print the last entries as JSON lines'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "note" -d 'Print a C2SP tlog-checkpoint (signed note) over the log\'s Merkle tree'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "prove" -d 'Export entries with RFC 6962 inclusion proofs against a signed note'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "verify-excerpt" -d 'Check an excerpt from `bd-log prove` with only the public key'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "witness" -d 'Get a checkpoint note cosigned by C2SP tlog-witness witnesses'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "vkey" -d 'Print the log\'s identity key as the C2SP vkey a witness is configured with'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "rotate" -d 'Close the log with a checkpoint and continue its chain in a new file'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "repair" -d 'Move a torn last line aside so appends can continue'
complete -c bd-log -n "__fish_bd_log_using_subcommand help; and not __fish_seen_subcommand_from keygen append verify checkpoint show tail note prove verify-excerpt witness vkey rotate repair help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
