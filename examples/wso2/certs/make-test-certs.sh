#!/usr/bin/env bash
# How the TEST material in this folder was made. Its private keys are public (they are in git):
# never use them for anything but trying kstool.
set -euo pipefail
cd "$(dirname "$0")"
days=3650
openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.crt -days $days -sha256 \
  -subj "/C=LK/O=kstool example (TEST ONLY)/CN=kstool Example Root CA (TEST ONLY)" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
openssl req -newkey rsa:2048 -nodes -keyout intermediate.key -out intermediate.csr \
  -subj "/C=LK/O=kstool example (TEST ONLY)/CN=kstool Example Intermediate CA (TEST ONLY)"
openssl x509 -req -in intermediate.csr -CA root.crt -CAkey root.key -set_serial 2 -days $days -sha256 \
  -extfile <(printf "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n") \
  -out intermediate.crt
openssl req -newkey rsa:2048 -nodes -keyout gateway.key -out gateway.csr \
  -subj "/C=LK/O=kstool example (TEST ONLY)/CN=gateway.example.org"
openssl x509 -req -in gateway.csr -CA intermediate.crt -CAkey intermediate.key -set_serial 3 -days $days -sha256 \
  -extfile <(printf "subjectAltName=DNS:gateway.example.org\nextendedKeyUsage=serverAuth\n") -out gateway.crt
rm -f ./*.csr root.key intermediate.key
