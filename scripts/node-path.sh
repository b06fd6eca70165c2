# Sourced by scripts/test.sh and scripts/demo.sh after scripts/setup.sh: puts the Node that setup
# installed into .lifeboat/node (where the machine's own was older than 22) first on PATH, so
# npm, npx, vitest, tsx and every worker the tests start run on it. bin/lifeboat finds it itself.
lifeboat_node_bin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.lifeboat/node/bin"
if [ -x "$lifeboat_node_bin/node" ]; then
  case ":$PATH:" in
    *":$lifeboat_node_bin:"*) ;;
    *) export PATH="$lifeboat_node_bin:$PATH" ;;
  esac
fi
unset lifeboat_node_bin
