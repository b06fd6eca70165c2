# Which PostgreSQL major version setup.sh installs and the harness runs (sourced by setup.sh).
# Debian 12 ships PostgreSQL 15, Debian 13 ships 17: one installed wins, else what the package lists
# offer, 15 first (the version the project is tested on most). Without package lists (a fresh
# machine) nothing is offered yet: setup.sh asks again after apt-get update.
pg_installed() { [ "$(dpkg-query -W -f='${Status}' "postgresql-$1" 2>/dev/null)" = "install ok installed" ]; }
pg_offered() { [ -n "$(apt-cache policy "postgresql-$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)')" ]; }
choose_pg() {
  local v
  for v in 15 17 16; do pg_installed "$v" && { echo "$v"; return; }; done
  for v in 15 17 16; do pg_offered "$v" && { echo "$v"; return; }; done
  return 1
}
