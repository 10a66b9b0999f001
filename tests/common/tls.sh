#!/usr/bin/env bash
# Throwaway TLS material for the test services (the Kafka clusters' TLS listeners, the Connect
# workers' HTTPS REST API): a CA, and X.509 v3 certificates it signs, valid two days.
#
#   tests/common/tls.sh ca DIR CN          DIR/ca.pem, DIR/ca.key
#   tests/common/tls.sh server DIR NAME    DIR/NAME.pem (for 127.0.0.1 and localhost), NAME.key, NAME.pk8
#   tests/common/tls.sh client DIR NAME    DIR/NAME.pem (clientAuth, CN=NAME), NAME.key, NAME.pk8
set -euo pipefail
what=$1 dir=$2 name=$3
mkdir -p "$dir"
case "$what" in
  ca)
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$name" \
      -keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1
    exit ;;
  server) cn=localhost; ext='subjectAltName=IP:127.0.0.1,DNS:localhost' ;;
  client) cn=$name; ext='extendedKeyUsage=clientAuth' ;;
  *) echo "usage: $0 ca|server|client DIR NAME" >&2; exit 2 ;;
esac
openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$dir/$name.key" -out "$dir/$name.csr" >/dev/null 2>&1
# Extensions make it a v3 certificate, as a CA issues them (rustls refuses v1 ones).
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n%s\n' "$ext" > "$dir/$name.ext"
openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
  -extfile "$dir/$name.ext" -out "$dir/$name.pem" >/dev/null 2>&1
openssl pkcs8 -topk8 -nocrypt -in "$dir/$name.key" -out "$dir/$name.pk8" >/dev/null 2>&1
