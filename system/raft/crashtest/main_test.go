package crashtest

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// nodeEnv is the environment variable that turns the test binary into a
// crash-test node. It holds the node's nodeConfig as JSON.
const nodeEnv = "SQUALL_CRASHTEST_NODE"

// nodeConfig is what the controller tells a node process.
type nodeConfig struct {
	ID uint64 `json:"id"`
	// Dir holds the node's storage, its stderr log and, after a clean
	// stop, the list of values it applied.
	Dir string `json:"dir"`
	// Peers maps every node's id to its loopback address. The addresses
	// stay the same across restarts.
	Peers map[uint64]string `json:"peers"`
	// Incarnation counts the node's starts, so that the values it
	// proposes stay unique across restarts.
	Incarnation int `json:"incarnation"`
}

func TestMain(m *testing.M) {
	if env, ok := os.LookupEnv(nodeEnv); ok {
		var cfg nodeConfig
		if err := json.Unmarshal([]byte(env), &cfg); err != nil {
			fmt.Fprintf(os.Stderr, "crashtest node: decode %s=%q: %v\n", nodeEnv, env, err)
			os.Exit(2)
		}
		os.Exit(runNode(cfg))
	}
	os.Exit(m.Run())
}
