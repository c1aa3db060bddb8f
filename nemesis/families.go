package nemesis

import (
	"fmt"
	"slices"
	"strings"

	"github.com/squall-chaos/squall/nemesis/netfault"
)

// Family is a fault family as the command line knows it.
type Family struct {
	Name string
	// Modes are the family's modes; a choice of the family with none
	// takes them all (but those the kernel cannot do, see Choice). Some
	// families' modes are of two sorts, what a fault does (its kinds) and
	// which nodes it acts on (its targets): naming only targets takes
	// every kind, and the other way round.
	Modes []string
	// kinds are the modes that say what a fault does, where some modes
	// are targets; nil when every mode is a kind.
	kinds []string
	// Usage says in a line what the family does and what its modes are.
	Usage string
	// needs maps a mode to the kernel features it needs in the nodes'
	// network namespaces (netfault.Feature*); "" stands for every mode.
	needs map[string][]string
	// NeedsNodeAdmin: the family works through squall's admin API in each
	// node (its injectable clock, failpoints, storage that can lose
	// unsynced writes), which only squall's own systems serve.
	NeedsNodeAdmin bool
	build          func(modes ...string) (Fault, error)
}

// families are every fault family, in the order help lists them.
var families = []Family{
	{Name: "partition", Modes: partitionModes,
		Usage: "cut the network between groups of nodes (nftables): halves, one, majorities-ring, bridge, leader, or grudge:n1,n2|n3,n4,n5",
		needs: map[string][]string{"": {netfault.FeatureNftables}},
		build: func(m ...string) (Fault, error) { return NewPartition(m...) }},
	{Name: "kill", Modes: killModes,
		Usage: "SIGKILL nodes, never a majority, and restart them: one, minority, leader",
		build: func(m ...string) (Fault, error) { return NewKill(m...) }},
	{Name: "pause", Modes: pauseModes,
		Usage: "freeze nodes (Docker pause, the cgroup freezer) and thaw them: one, minority, leader",
		build: func(m ...string) (Fault, error) { return NewPause(m...) }},
	{Name: "clock", Modes: append(slices.Clone(clockModes), clockTargets...), kinds: clockModes,
		Usage:          "change nodes' injectable clocks: bump (jump up to 5s), strobe (flip every few ms), skew (1.5-4x fast or slow); on one, minority or leader",
		NeedsNodeAdmin: true,
		build:          func(m ...string) (Fault, error) { return NewClock(m...) }},
	{Name: "loss", Modes: append(slices.Clone(lossModes), lossTargets...), kinds: lossModes,
		Usage: "degrade nodes' network: drop (10-50% of packets, nftables), bandwidth (32 KiB/s-1 MiB/s, tbf), delay (20-200ms, netem); on one, minority, leader or all",
		needs: map[string][]string{LossDrop: {netfault.FeatureNftables}, LossBandwidth: {netfault.FeatureTbf}, LossDelay: {netfault.FeatureNetem}},
		build: func(m ...string) (Fault, error) { return NewLoss(m...) }},
	{Name: "failpoint", Modes: failActions,
		Usage:          "arm a node's failpoint picked from the seed: crash, error, sleep, or a point by name (kv/after-commit, wal/before-sync, ...)",
		NeedsNodeAdmin: true,
		build:          func(m ...string) (Fault, error) { return NewFailpoint(m...) }},
	{Name: "power", Modes: powerModes,
		Usage:          "cut the power of one node, a minority, a majority or all: a kill that loses unsynced writes (nodes keep them in memory)",
		NeedsNodeAdmin: true,
		build:          func(m ...string) (Fault, error) { return NewPower(m...) }},
}

// Families lists every fault family.
func Families() []Family { return slices.Clone(families) }

// FamilyNames lists the names of every fault family.
func FamilyNames() []string {
	var names []string
	for _, f := range families {
		names = append(names, f.Name)
	}
	return names
}

func familyNamed(name string) (Family, bool) {
	for _, f := range families {
		if f.Name == name {
			return f, true
		}
	}
	return Family{}, false
}

// Choice is a family a run asks for, with the modes it names (none: the
// family's default modes).
type Choice struct {
	Family string
	Modes  []string
}

// Items is the choice as items of --nemesis: "clock" or "clock:bump",
// "clock:skew".
func (c Choice) Items() []string {
	if len(c.Modes) == 0 {
		return []string{c.Family}
	}
	var items []string
	for _, m := range c.Modes {
		items = append(items, c.Family+":"+m)
	}
	return items
}

// All is every family with its default modes.
const All = "all"

// SplitList splits a --nemesis value into items at its commas, except the
// commas of a partition's explicit grudge ("partition:grudge:n1,n2|n3,n4"):
// a piece that does not begin with a family's name (or "all", "none")
// continues the item before it.
func SplitList(s string) []string {
	var items []string
	for _, piece := range strings.Split(s, ",") {
		piece = strings.TrimSpace(piece)
		name, _, _ := strings.Cut(piece, ":")
		_, known := familyNamed(name)
		if len(items) > 0 && !known && name != All && name != "none" && strings.HasPrefix(items[len(items)-1], "partition:"+PartitionGrudgePrefix) {
			items[len(items)-1] += "," + piece
			continue
		}
		if piece != "" {
			items = append(items, piece)
		}
	}
	return items
}

// ParseChoices reads items such as "partition", "clock:strobe",
// "failpoint:kv/after-commit", "partition:grudge:n1,n2|n3,n4,n5" or
// "all", merging the modes of items of one family, in the order families
// first appear. It checks every family and mode, naming the bad input and
// the valid choices.
func ParseChoices(items []string) ([]Choice, error) {
	var choices []Choice
	bare := map[string]bool{} // families asked for with no mode
	add := func(family, mode string) {
		i := slices.IndexFunc(choices, func(c Choice) bool { return c.Family == family })
		if i < 0 {
			choices = append(choices, Choice{Family: family})
			i = len(choices) - 1
		}
		if mode == "" {
			bare[family] = true
		} else if !slices.Contains(choices[i].Modes, mode) {
			choices[i].Modes = append(choices[i].Modes, mode)
		}
	}
	for _, item := range items {
		if item == All {
			for _, f := range families {
				add(f.Name, "")
			}
			continue
		}
		name, mode, _ := strings.Cut(item, ":")
		f, ok := familyNamed(name)
		if !ok {
			return nil, fmt.Errorf("--nemesis: %q is not a fault family (want %s, %s or none; `squall test --help` lists their modes)",
				name, strings.Join(FamilyNames(), ", "), All)
		}
		if item == name+":" {
			return nil, fmt.Errorf("--nemesis: %q names no mode after the colon (%s's modes: %s)", item, name, strings.Join(f.Modes, ", "))
		}
		if mode != "" {
			if _, err := f.build(mode); err != nil {
				return nil, fmt.Errorf("--nemesis: %w", err)
			}
		}
		add(name, mode)
	}
	// A family asked for both bare and with modes takes all its modes.
	for i := range choices {
		if bare[choices[i].Family] {
			choices[i].Modes = nil
		}
	}
	return choices, nil
}

// kindsOf is c's kinds (the modes that say what a fault does, which are
// what needs kernel features) and whether c named them, and c's other
// modes (targets).
func (c Choice) kindsOf() (kinds []string, explicit bool, rest []string) {
	f, _ := familyNamed(c.Family)
	all := f.kinds
	if all == nil {
		all = f.Modes
	}
	for _, m := range c.Modes {
		if slices.Contains(all, m) {
			kinds = append(kinds, m)
		} else {
			rest = append(rest, m)
		}
	}
	if len(kinds) > 0 {
		return kinds, true, rest
	}
	return slices.Clone(all), false, rest
}

// Needs lists the kernel features the choice's modes need, each with the
// modes that need it.
func (c Choice) Needs() map[string][]string {
	f, _ := familyNamed(c.Family)
	kinds, _, _ := c.kindsOf()
	needs := map[string][]string{}
	for _, m := range kinds {
		for _, feature := range append(slices.Clone(f.needs[""]), f.needs[m]...) {
			needs[feature] = append(needs[feature], m)
		}
	}
	return needs
}

// Without drops the modes that need an unsupported feature from a choice
// that named none of its kinds, and reports which it dropped; a choice
// that named such a mode, or has no kind left, is refused.
func (c Choice) Without(unsupported map[string]error) (Choice, []string, error) {
	f, _ := familyNamed(c.Family)
	kinds, explicit, rest := c.kindsOf()
	var kept, dropped []string
	for _, m := range kinds {
		var why error
		for _, feature := range append(slices.Clone(f.needs[""]), f.needs[m]...) {
			if err := unsupported[feature]; err != nil {
				why = err
			}
		}
		switch {
		case why != nil && explicit:
			return c, nil, fmt.Errorf("--nemesis %s:%s cannot work here: %v", c.Family, m, why)
		case why != nil:
			dropped = append(dropped, m)
		default:
			kept = append(kept, m)
		}
	}
	if len(kept) == 0 {
		return c, nil, fmt.Errorf("--nemesis %s cannot work here: none of its modes (%s) can", c.Family, strings.Join(kinds, ", "))
	}
	if len(dropped) > 0 {
		return Choice{Family: c.Family, Modes: append(kept, rest...)}, dropped, nil
	}
	return c, nil, nil
}

// Build makes the faults of choices.
func Build(choices []Choice) ([]Fault, error) {
	var faults []Fault
	for _, c := range choices {
		f, ok := familyNamed(c.Family)
		if !ok {
			return nil, fmt.Errorf("no fault family %q", c.Family)
		}
		fault, err := f.build(c.Modes...)
		if err != nil {
			return nil, err
		}
		faults = append(faults, fault)
	}
	return faults, nil
}

// splitModes sorts modes into kinds (what a fault does) and targets (to
// which nodes); each list is all of its kind if modes names none.
func splitModes(family string, modes, allKinds, allTargets []string) (kinds, targets []string, err error) {
	for _, m := range modes {
		switch {
		case slices.Contains(allKinds, m):
			kinds = append(kinds, m)
		case slices.Contains(allTargets, m):
			targets = append(targets, m)
		default:
			return nil, nil, fmt.Errorf("%s mode %q: want one of %s, or a target: %s", family, m, strings.Join(allKinds, ", "), strings.Join(allTargets, ", "))
		}
	}
	if len(kinds) == 0 {
		kinds = slices.Clone(allKinds)
	}
	if len(targets) == 0 {
		targets = slices.Clone(allTargets)
	}
	return kinds, targets, nil
}

// checkModes returns modes, or all of them if modes is empty, after
// checking that each is one of all.
func checkModes(family string, modes, all []string) ([]string, error) {
	if len(modes) == 0 {
		return slices.Clone(all), nil
	}
	for _, m := range modes {
		if !slices.Contains(all, m) {
			return nil, fmt.Errorf("%s mode %q: want one of %s", family, m, strings.Join(all, ", "))
		}
	}
	return slices.Clone(modes), nil
}

// FamilyNamed returns the family of that name.
func FamilyNamed(name string) (Family, bool) {
	for _, f := range families {
		if f.Name == name {
			return f, true
		}
	}
	return Family{}, false
}
