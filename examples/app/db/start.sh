# shellcheck shell=sh
# A stand-in database: it refuses to start without its password, then says it is ready.
if [ -z "$POSTGRES_PASSWORD" ]; then
    echo "db: POSTGRES_PASSWORD is not set" >&2
    exit 1
fi
echo "db: accepting connections"
touch /tmp/ready
trap 'echo "db: shutting down"; exit 0' TERM INT
while :; do sleep 1 & wait $!; done
