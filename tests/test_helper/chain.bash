# A real local chain for the tests that read code from transaction calldata: anvil from the
# pinned npm package on 127.0.0.1, transactions sent with cast. Load after common-setup.

KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 # anvil's first account
CONTRACT=0x00000000000000000000000000000000000C0DE0                    # checksummed case

# start_anvil: a fresh chain on a free port; sets RPC and exports OYS_RPC_URL, OYS_CODE_CONTRACT,
# and OYS_CHAIN_CONFIRMATIONS=1 (anvil mines a block per transaction and no more: tests of the
# confirmations set their own).
start_anvil() {
	local port
	port=$(oys-port)
	start_bg "$T/anvil.log" "$ANVIL" --host 127.0.0.1 --port "$port"
	ANVIL_PID=$BG_PID
	wait_port "$port" 30
	RPC=http://127.0.0.1:$port
	export OYS_RPC_URL=$RPC OYS_CODE_CONTRACT=$CONTRACT OYS_CHAIN_CONFIRMATIONS=1
}

hex() { od -An -v -tx1 "$1" | tr -d ' \n'; }

# send_code FILE [TO [cast options]]: a transaction calling store(bytes) with FILE; prints its hash.
send_code() {
	local f=$1 to=${2:-$CONTRACT}
	shift 2 || shift $#
	"$CAST" send --rpc-url "$RPC" --private-key "$KEY" "$@" "$to" \
		--data "$("$CAST" calldata 'store(bytes)' "0x$(hex "$f")")" --json | jq -r .transactionHash
}
