#!/usr/bin/env bats
# Archives beyond one machine: pipelines/shard.sh shards (concatenated, the
# same bytes as one run), run through GNU parallel --sshlogin over an sshd
# this file starts on loopback, and as a Slurm job array on a one-node
# cluster (munged, slurmctld, slurmd) it starts on localhost.  Every daemon
# is stopped in teardown; the tests skip when one cannot start here.
load helper

setup_file() {
	T=$BATS_FILE_TMPDIR
	(cd "$T" && phantom -o ph --cases 2 --size 48x40 --slices 2 --phases 3 \
		--seed 3 && sunnybrook-index --all-frames "$T/ph" >list.tsv &&
		dcm2tensor --list list.tsv | contour2mask >train.ts &&
		fcn-train --net "$ROOT/nets/fcn-tiny.prototxt" --train train.ts \
			--epochs 2 --lr 0.01 --class-weights auto --threads 1 \
			--seed 1 -o model.fcn >/dev/null 2>&1 &&
		"$ROOT/pipelines/shard.sh" list.tsv 0 1 model.fcn >one.ts)
}

setup() {
	T=$BATS_FILE_TMPDIR
	cd "$BATS_TEST_TMPDIR"
	PIDS=()
	MADE_RUN_SSHD=
}

# Stops what start_bg started, newest first, and waits for each to go.
teardown() {
	local k pid
	for ((k = ${#PIDS[@]} - 1; k >= 0; k--)); do
		pid=${PIDS[k]}
		kill "$pid" 2>/dev/null || continue
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	done
	[ -z "$MADE_RUN_SSHD" ] || rmdir /run/sshd 2>/dev/null || true
}

# start_bg LOG CMD...: CMD in the background (fds closed), its pid kept.
start_bg() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 3>&- 4>&- </dev/null &
	PIDS+=($!)
}

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

@test "shard.sh: shards 0..N-1 concatenated are the bytes of one run, empty shards included" {
	run tensor-info "$T/one.ts"
	assert_line --partial "# 12 records, 0 errors"
	for n in 2 3 5 12 13; do
		for ((i = 0; i < n; i++)); do
			"$ROOT/pipelines/shard.sh" "$T/list.tsv" $i $n "$T/model.fcn"
		done >cat.ts
		cmp "$T/one.ts" cat.ts
	done
	# the predictions are not trivial: some pixels in the segment
	run "$PYTHON" -c '
import sys; sys.path.insert(0, sys.argv[1])
from stream import read_stream
print(sum(int((r["pred"] == 1).sum()) for r in read_stream(sys.argv[2])) > 0)
' "$ROOT/tests/ref" "$T/one.ts"
	assert_output True
}

@test "shard.sh: usage errors are exit 2; a failing stage is exit 1" {
	run_split "$ROOT/pipelines/shard.sh"
	assert_failure 2
	assert_equal "$output" ""
	[[ $stderr == "shard.sh: need LIST I N MODEL"* ]] || fail "$stderr"
	run_split "$ROOT/pipelines/shard.sh" "$T/list.tsv" 3 3 "$T/model.fcn"
	assert_failure 2
	assert_equal "$output" ""
	run_split "$ROOT/pipelines/shard.sh" --bogus
	assert_failure 2
	run_split "$ROOT/pipelines/shard.sh" "$T/list.tsv" 0 2 nomodel.fcn
	assert_failure 1
	[[ $stderr == *"fcn-predict: "* ]] || fail "$stderr"
	run_split "$ROOT/pipelines/shard.sh" --help
	assert_success
	assert_output --partial "Usage:"
}

@test "GNU parallel --sshlogin: shards over ssh to an sshd on loopback give one run's bytes" {
	command -v parallel >/dev/null || skip "GNU parallel not found (Debian package parallel)"
	[ -x /usr/sbin/sshd ] || skip "sshd not found (Debian package openssh-server)"
	if [ ! -d /run/sshd ]; then
		mkdir -m 0755 /run/sshd 2>/dev/null ||
			skip "sshd needs /run/sshd and it cannot be made here"
		MADE_RUN_SSHD=1
	fi
	local me port
	me=$(id -un)
	port=$(free_port)
	ssh-keygen -q -t ed25519 -N '' -f hostkey
	ssh-keygen -q -t ed25519 -N '' -f userkey
	cp userkey.pub authorized
	cat >sshd_config <<-CFG
		Port $port
		ListenAddress 127.0.0.1
		HostKey $PWD/hostkey
		AuthorizedKeysFile $PWD/authorized
		PidFile $PWD/sshd.pid
		UsePAM no
		StrictModes no
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		PermitRootLogin prohibit-password
		AllowUsers $me
	CFG
	start_bg sshd.log /usr/sbin/sshd -D -e -f "$PWD/sshd_config"
	local ssh="ssh -F /dev/null -p $port -i $PWD/userkey -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
	local up=
	for _ in $(seq 50); do
		$ssh "$me@127.0.0.1" true 2>/dev/null && { up=1; break; }
		kill -0 "${PIDS[0]}" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$up" ] || skip "sshd did not start here: $(tail -n 2 sshd.log)"
	# the documented command (docs/archives.md), 4 shards on 2 "hosts"
	N=4
	seq 0 $((N - 1)) |
		HOME=$PWD parallel --will-cite -k --ssh "$ssh" -S "2/$me@127.0.0.1" \
			"env PATH=$BIN:/usr/bin:/bin $ROOT/pipelines/shard.sh $T/list.tsv {} $N $T/model.fcn" >ssh.ts
	cmp "$T/one.ts" ssh.ts
	# a failing shard fails the whole run
	run bash -c "seq 0 1 | HOME=$PWD parallel --will-cite -k --halt now,fail=1 --ssh '$ssh' -S 2/$me@127.0.0.1 \
		'env PATH=$BIN:/usr/bin:/bin $ROOT/pipelines/shard.sh $T/list.tsv {} 2 nomodel.fcn' >/dev/null"
	assert_failure
}

@test "Slurm job array: pipelines/slurm/predict-array.sbatch on a one-node cluster gives one run's bytes" {
	for p in munged slurmctld slurmd sbatch squeue; do
		command -v $p >/dev/null || [ -x /usr/sbin/$p ] ||
			skip "$p not found (Debian packages slurm-wlm, munge)"
	done
	local D=$PWD h p1 p2
	chmod 0700 "$D"
	mkdir -m 0700 munge state spool
	head -c 1024 /dev/urandom >munge/key
	chmod 0400 munge/key
	start_bg munged.log munged -F -f --key-file="$D/munge/key" \
		--socket="$D/munge/sock" --pid-file="$D/munge/pid" \
		--log-file="$D/munge/log" --seed-file="$D/munge/seed"
	for _ in $(seq 50); do
		[ -S munge/sock ] && break
		sleep 0.1
	done
	[ -S munge/sock ] || skip "munged did not start here: $(tail -n 2 munged.log)"
	h=$(hostname -s)
	p1=$(free_port)
	p2=$(free_port)
	cat >slurm.conf <<-CFG
		ClusterName=lvsegtest
		SlurmctldHost=$h(127.0.0.1)
		SlurmctldPort=$p1
		SlurmdPort=$p2
		AuthType=auth/munge
		CredType=cred/munge
		AuthInfo=socket=$D/munge/sock
		SlurmUser=$(id -un)
		SlurmdUser=$(id -un)
		StateSaveLocation=$D/state
		SlurmdSpoolDir=$D/spool
		SlurmctldPidFile=$D/slurmctld.pid
		SlurmdPidFile=$D/slurmd.pid
		ProctrackType=proctrack/linuxproc
		TaskPlugin=task/none
		JobAcctGatherType=jobacct_gather/none
		AccountingStorageType=accounting_storage/none
		SelectType=select/cons_tres
		SelectTypeParameters=CR_CPU
		MpiDefault=none
		ReturnToService=2
		SchedulerType=sched/builtin
		NodeName=$h NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
		PartitionName=test Nodes=$h Default=YES MaxTime=INFINITE State=UP
	CFG
	export SLURM_CONF=$D/slurm.conf
	start_bg slurmctld.log slurmctld -D -i -f "$SLURM_CONF"
	start_bg slurmd.log slurmd -D -f "$SLURM_CONF"
	local up=
	for _ in $(seq 100); do
		sinfo -h -o %t 2>/dev/null | grep -qx idle && { up=1; break; }
		sleep 0.1
	done
	[ -n "$up" ] || skip "the Slurm cluster did not come up here: $(tail -n 1 slurmctld.log) / $(tail -n 1 slurmd.log)"
	N=3
	run_split sbatch --parsable --array=0-$((N - 1)) -o "$D/task-%a.log" \
		--export=ALL,LVSEG_ROOT="$ROOT" \
		"$ROOT/pipelines/slurm/predict-array.sbatch" \
		"$T/list.tsv" "$T/model.fcn" "$D/out"
	assert_success
	local job=$output
	for _ in $(seq 300); do
		[ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
		sleep 0.1
	done
	[ -z "$(squeue -h -j "$job")" ] || fail "job $job still queued: $(squeue)"
	for ((i = 0; i < N; i++)); do
		[ -f "out/shard-$i.ts" ] || fail "no shard $i: $(cat task-$i.log)"
	done
	cat out/shard-{0..2}.ts >slurm.ts
	cmp "$T/one.ts" slurm.ts
	[ -z "$(ls -A out | grep -v '^shard-[0-9]*\.ts$')" ] || fail "leftovers: $(ls -A out)"
}

@test "the commands in docs/archives.md are the ones tested here" {
	grep -qF 'pipelines/shard.sh' "$ROOT/docs/archives.md"
	grep -qF 'parallel --will-cite -k --ssh' "$ROOT/docs/archives.md"
	grep -qF 'sbatch --parsable --array=0-$((N - 1))' "$ROOT/docs/archives.md"
}
