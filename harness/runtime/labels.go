package runtime

import (
	"os"
	"strconv"
)

// Every Docker object squall creates carries these labels, and squall
// removes only objects that carry LabelSquall: whatever else runs on the
// engine is never touched.
const (
	// LabelSquall marks an object as squall's ("true").
	LabelSquall = "squall"
	// LabelRun is the id of the run that created the object.
	LabelRun = "squall.run"
	// LabelPID and LabelHost name the controller process that owns the
	// run, so that a sweep can tell a crashed run from a live one.
	LabelPID  = "squall.pid"
	LabelHost = "squall.host"
	// LabelNode is the node a container or volume belongs to.
	LabelNode = "squall.node"
	// LabelImage marks squall's node images ("node"). Images do not carry
	// LabelSquall, which containers started from them would inherit.
	LabelImage = "squall.image"
	// LabelKept marks the marker volume of a run left running on purpose
	// (Cluster.Leave); a sweep leaves such a run for `squall clean`.
	LabelKept = "squall.kept"
)

// runLabels are the labels of every object of run: the run's id and its
// controller process.
func runLabels(run string) map[string]string {
	host, _ := os.Hostname()
	return map[string]string{
		LabelSquall: "true",
		LabelRun:    run,
		LabelPID:    strconv.Itoa(os.Getpid()),
		LabelHost:   host,
	}
}

// nodeLabels are run's labels plus the node's name.
func nodeLabels(run, node string) map[string]string {
	l := runLabels(run)
	l[LabelNode] = node
	return l
}

// ownedBySquall reports whether labels mark an object as squall's: the last
// check before anything is removed.
func ownedBySquall(labels map[string]string) bool {
	return labels[LabelSquall] == "true"
}
