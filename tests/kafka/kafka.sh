#!/usr/bin/env bash
# Apache Kafka from Maven Central for the project's tests (Java 17 + Maven; no tarball downloads).
#
#   tests/kafka/kafka.sh fetch     resolve the jars into ~/.cache/streamctl/kafka/<version>/libs
#                                  (Maven's own cache ~/.m2 makes repeat runs instant); prints the dir
#   tests/kafka/kafka.sh fetch-connect   Kafka Connect + MirrorMaker 2 of the same version into
#                                  .../<version>/connect-libs (a classpath of its own); prints it
#   tests/kafka/kafka.sh version   the pinned Kafka version
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
libs="${STREAMCTL_KAFKA_HOME:-$HOME/.cache/streamctl/kafka/$version}/libs"

case "${1:-}" in
  version) echo "$version" ;;
  fetch)
    # The marker holds the pom's hash: a changed dependency list fetches again.
    want=$(sha256sum "$here/pom.xml" | cut -c1-16)
    if [ "$(cat "$libs/.complete" 2>/dev/null)" != "$want" ]; then
      command -v mvn >/dev/null || { echo "kafka.sh: Maven (mvn) is needed to fetch Kafka's jars" >&2; exit 1; }
      rm -rf "$libs"
      mkdir -p "$libs"
      mvn -q -B -Dstyle.color=never --no-transfer-progress -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs" >&2
      ls "$libs"/kafka_2.13-"$version".jar >/dev/null
      echo "$want" > "$libs/.complete"
    fi
    echo "$libs"
    ;;
  fetch-connect)
    cpom="$here/connect-pom.xml"
    [ "$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$cpom")" = "$version" ] \
      || { echo "kafka.sh: connect-pom.xml and pom.xml pin different Kafka versions" >&2; exit 1; }
    clibs="$(dirname "$libs")/connect-libs"
    want=$(sha256sum "$cpom" | cut -c1-16)
    if [ "$(cat "$clibs/.complete" 2>/dev/null)" != "$want" ]; then
      rm -rf "$clibs"
      mkdir -p "$clibs"
      mvn -q -B -Dstyle.color=never --no-transfer-progress -f "$cpom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$clibs" >&2
      ls "$clibs"/connect-mirror-"$version".jar >/dev/null
      echo "$want" > "$clibs/.complete"
    fi
    echo "$clibs"
    ;;
  *) echo "usage: $0 fetch|fetch-connect|version" >&2; exit 2 ;;
esac
