#!/bin/bash
# One request per connection, one line: the app performs the access itself, so it happens
# inside the traced process tree (docker exec would run outside it).
read -r req _
case $req in
ping) echo pong ;;
id) id -u ;;
public) cat /app/public.txt 2>&1; echo "rc=$?" ;;
secret) cat /secret/api-token 2>&1; echo "rc=$?" ;;
exec-apt) /usr/bin/apt 2>&1; echo "rc=$?" ;;
ps) ps -e -o pid=,comm= ;;
*) echo "unknown request: $req" ;;
esac
