#!/bin/sh
# spawn-fcgi.sh: start openai-fcgi under spawn-fcgi, on a unix socket or a TCP port.
#
# Copy it (e.g. to /usr/local/sbin/openai-fcgi-spawn), edit the defaults
# below or set them in the environment, and run it as root: spawn-fcgi opens
# the socket, hands it to every process on fd 0, then drops to RUN_AS.
# The end-to-end tests start the app for nginx, Apache mod_proxy_fcgi and
# lighttpd with this very script, changing only these variables.
#
# spawn-fcgi starts one process, the app's master, which forks PROCESSES
# workers and replaces any that dies: a crash costs its requests, not the
# service. The PID file holds the master: SIGTERM stops gracefully, SIGHUP
# reloads the settings (workers replaced one by one, nothing dropped).
# The same thing written out, for the two usual cases:
#   spawn-fcgi -s /run/openai-fcgi/sock -M 0660 -U www-data -G www-data \
#       -u openai-fcgi -F 1 -P /run/openai-fcgi/pid -- \
#       /usr/local/bin/openai-fcgi --processes 2 --threads 4
#   spawn-fcgi -a 127.0.0.1 -p 9000 -u openai-fcgi -F 1 -- \
#       /usr/local/bin/openai-fcgi --processes 2 --threads 4
# The app's settings come from the environment spawn-fcgi passes on, ./.env
# and OPENAI_FCGI_CONFIG (default /usr/local/etc/openai-fcgi/openai-fcgi.conf).
# spawn-fcgi sends the app's stderr to /dev/null: set LOG_FILE.

: "${APP:=/usr/local/bin/openai-fcgi}"
: "${SOCKET:=/run/openai-fcgi/sock}"   # a path, or HOST:PORT for TCP
: "${PROCESSES:=2}"                     # worker processes; they share RATE_LIMIT_FILE
: "${THREADS:=4}"                       # threads per process
: "${PIDFILE:=}"                        # spawn-fcgi writes the master's PID here
# Only when started as root: who owns the socket (the web server's user,
# which must be able to connect) and who the app runs as. Empty: unchanged.
: "${SOCKET_USER=www-data}"
: "${SOCKET_GROUP=$SOCKET_USER}"
: "${RUN_AS=openai-fcgi}"

if [ "$(id -u)" != 0 ]; then
	SOCKET_USER= SOCKET_GROUP= RUN_AS=
fi
case $SOCKET in
/*)	set -- -s "$SOCKET" -M 0660 ${SOCKET_USER:+-U "$SOCKET_USER"} ${SOCKET_GROUP:+-G "$SOCKET_GROUP"} ;;
*:*)	set -- -a "${SOCKET%:*}" -p "${SOCKET##*:}" ;;
*)	echo "spawn-fcgi.sh: SOCKET must be /a/path or HOST:PORT" >&2; exit 64 ;;
esac
exec spawn-fcgi "$@" -F 1 ${PIDFILE:+-P "$PIDFILE"} ${RUN_AS:+-u "$RUN_AS"} -- \
	"$APP" --processes "$PROCESSES" --threads "$THREADS"
