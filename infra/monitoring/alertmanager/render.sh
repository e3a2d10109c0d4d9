#!/bin/sh
# Renders alertmanager.yml with the Telegram secrets Alertmanager 0.25 cannot
# read from files, then (with --exec) starts Alertmanager on the result.
#
#   TELEGRAM_BOT_TOKEN or TELEGRAM_BOT_TOKEN_FILE   bot token
#   TELEGRAM_CHAT_ID                                numeric chat id
#   usage: render.sh SRC DEST [--exec alertmanager-args...]
set -eu
src=${1:?usage: render.sh SRC DEST [--exec args...]}
dest=${2:?usage: render.sh SRC DEST [--exec args...]}
shift 2

if [ -z "${TELEGRAM_BOT_TOKEN:-}" ] && [ -n "${TELEGRAM_BOT_TOKEN_FILE:-}" ]; then
	TELEGRAM_BOT_TOKEN=$(cat "$TELEGRAM_BOT_TOKEN_FILE")
fi
: "${TELEGRAM_BOT_TOKEN:?set TELEGRAM_BOT_TOKEN or TELEGRAM_BOT_TOKEN_FILE}"
: "${TELEGRAM_CHAT_ID:?set TELEGRAM_CHAT_ID}"
case $TELEGRAM_CHAT_ID in
	'' | *[!0-9-]*) echo "render.sh: TELEGRAM_CHAT_ID must be a number" >&2; exit 1 ;;
esac
case $TELEGRAM_BOT_TOKEN in
	*[!A-Za-z0-9:_-]*) echo "render.sh: TELEGRAM_BOT_TOKEN has unexpected characters" >&2; exit 1 ;;
esac

umask 077
tmp="$dest.tmp.$$"
# awk reads the values from the environment, so they never appear in argv.
TOKEN=$TELEGRAM_BOT_TOKEN CHAT=$TELEGRAM_CHAT_ID awk '
	{ gsub(/\$\{TELEGRAM_BOT_TOKEN\}/, ENVIRON["TOKEN"]) }
	/^[[:space:]]*chat_id: -1000000000000[[:space:]]*$/ { sub(/-1000000000000/, ENVIRON["CHAT"]) }
	{ print }
' "$src" >"$tmp"
mv "$tmp" "$dest"

if [ "${1:-}" = "--exec" ]; then
	shift
	exec alertmanager --config.file="$dest" "$@"
fi
