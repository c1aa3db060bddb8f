package harness

// The tests know the systems cmd/squall knows.
import _ "github.com/squall-chaos/squall/sut/all"
