package scenario

import (
	"fmt"
	"strings"
)

// UnknownScenarioError is Select's error for a name that is not in the suite.
type UnknownScenarioError struct {
	Name  string
	Known []string // the suite's names, in order
}

func (e *UnknownScenarioError) Error() string {
	return fmt.Sprintf("unknown scenario %q; known: %s", e.Name, strings.Join(e.Known, ", "))
}

// SeededSuite is Suite rendered with seed: seed 1 keeps Suite's seeds, and every other seed
// gives each scenario a seed of its own, distinct from those of the other seeds, and its
// foreign product the seed's ForeignProduct.
func SeededSuite(products []Product, seed int64) ([]*Scenario, error) {
	suite, err := Suite(products)
	if err != nil {
		return nil, err
	}
	for _, s := range suite {
		s.Config.Seed += (seed - 1) * int64(len(suite))
		for i := range s.Foreign {
			s.Foreign[i].Image = ForeignProduct(products, seed).Image
		}
	}
	return suite, nil
}

// Select returns the scenarios of suite with the given names, in that order; no names: the
// whole suite. An unknown name is an *UnknownScenarioError.
func Select(suite []*Scenario, names []string) ([]*Scenario, error) {
	if len(names) == 0 {
		return suite, nil
	}
	byName := map[string]*Scenario{}
	var known []string
	for _, s := range suite {
		byName[s.Name] = s
		known = append(known, s.Name)
	}
	chosen := make([]*Scenario, 0, len(names))
	for _, name := range names {
		s, ok := byName[name]
		if !ok {
			return nil, &UnknownScenarioError{Name: name, Known: known}
		}
		chosen = append(chosen, s)
	}
	return chosen, nil
}
