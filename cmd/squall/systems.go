package main

// The systems squall can test are those sut/all registers.
import _ "github.com/squall-chaos/squall/sut/all"
