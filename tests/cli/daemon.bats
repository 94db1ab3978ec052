#!/usr/bin/env bats
# p2p-node run --daemon: returns once the node serves, leaves a PID file,
# and stop ends it.

load lib_node

setup() {
	node_setup
	node_overlay 1
}

teardown() {
	# the daemon is not our child: end it through its PID file if the
	# test did not
	if [ -s "$NT_DIR/node.pid" ]; then
		kill "$(cat "$NT_DIR/node.pid")" 2>/dev/null || true
	fi
	node_teardown
}

@test "--daemon returns once the node serves; stop ends it and removes the PID file" {
	local d pid
	d=$(node_dir 0)
	if [ "$(id -u)" -eq 0 ]; then
		chown "$NT_USER:" "$NT_DIR"
	fi
	run p2p-node run --dir "$d" --listen 127.0.0.1:0 --daemon \
	    --pid-file "$NT_DIR/node.pid"
	[ "$status" -eq 0 ]
	# it already answers: no waiting needed
	run p2p-node status --dir "$d" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .state <<<"$output")" = alone ]
	pid=$(cat "$NT_DIR/node.pid")
	kill -0 "$pid"
	run p2p-node stop --dir "$d"
	[ "$status" -eq 0 ]
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$pid" 2>/dev/null
	[ ! -e "$NT_DIR/node.pid" ]
}

@test "--daemon with an unusable node directory fails, and says so" {
	run p2p-node run --dir "$NT_DIR/missing" --listen 127.0.0.1:0 --daemon
	[ "$status" -ne 0 ]
	[ -n "$output" ]
}
