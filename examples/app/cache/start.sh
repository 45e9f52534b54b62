# shellcheck shell=sh
# A stand-in cache: answers PONG over HTTP.
mkdir -p /www
echo PONG > /www/index.html
echo "cache: ready on 127.0.0.1:6379"
exec httpd -f -p 127.0.0.1:6379 -h /www
