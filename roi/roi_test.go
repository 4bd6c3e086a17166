package roi_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ebrcs/ebrcs/roi"
)

func pts(xy ...float64) []roi.Point {
	p := make([]roi.Point, 0, len(xy)/2)
	for i := 0; i+1 < len(xy); i += 2 {
		p = append(p, roi.Point{X: xy[i], Y: xy[i+1]})
	}
	return p
}

func TestParsePolygon(t *testing.T) {
	sq := pts(0.1, 0.1, 0.9, 0.1, 0.9, 0.9, 0.1, 0.9)
	tests := []struct {
		in   string
		want []roi.Point
	}{
		{"0.1,0.1;0.9,0.1;0.9,0.9;0.1,0.9", sq},
		{"0.1,0.1 0.9,0.1 0.9,0.9 0.1,0.9", sq},             // whitespace between points
		{" 0.1, 0.1 ; 0.9 ,0.1;\n0.9,0.9\t0.1 , 0.9; ", sq}, // spaces around separators, trailing ';'
		{"0.1,0.1;;0.9,0.1;0.9,0.9;0.1,0.9", sq},            // a run of separators is one
		{"0,0;1,0;0,1", pts(0, 0, 1, 0, 0, 1)},              // the bounds are included
		{"0,0;1,0;1,1;0,1;0,0", pts(0, 0, 1, 0, 1, 1, 0, 1, 0, 0)},
		{".5,.25;1e-1,1.0;+0.3,0.7", pts(0.5, 0.25, 0.1, 1, 0.3, 0.7)},
		{"0,0;1,1;1,0;0,1", pts(0, 0, 1, 1, 1, 0, 0, 1)}, // self-intersecting: allowed
		{"-0,0;1,0;0,1", pts(0, 0, 1, 0, 0, 1)},
		{"", nil},
		{"  \t", nil},
	}
	for _, tc := range tests {
		got, err := roi.Parse(tc.in)
		if err != nil {
			t.Errorf("ParsePolygon(%q): %v", tc.in, err)
			continue
		}
		if !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("ParsePolygon(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// Each refusal names the problem, and the offending point and text when there is one.
func TestParsePolygonErrors(t *testing.T) {
	tests := []struct {
		in   string
		want []string // substrings of the message
	}{
		{"0.1,0.1;0.9,0.1", []string{"at least 3 points", "got 2"}},
		{"0.5,0.5", []string{"at least 3 points", "got 1"}},
		{";;", []string{"at least 3 points", "got 0"}},
		{"0.1,0.1;1.5,0.1;0.9,0.9", []string{"point 2", `"1.5,0.1"`, "x 1.5 is outside [0, 1]"}},
		{"0.1,0.1;0.9,-0.1;0.9,0.9", []string{"point 2", "y -0.1 is outside [0, 1]"}},
		{"0.1,0.1;0.9,0.1;0.9,1.0000001", []string{"point 3", "y 1.0000001 is outside [0, 1]"}},
		{"0.1,0.1;0.9,0.1;1e999,0.9", []string{"point 3", "x 1e999 is outside [0, 1]"}},
		{"NaN,0.1;0.9,0.1;0.9,0.9", []string{"point 1", `"NaN,0.1"`, "x NaN is not a finite number"}},
		{"0.1,0.1;0.9,Inf;0.9,0.9", []string{"point 2", "y Inf is not a finite number"}},
		{"0.1,0.1;0.9,0.1;-infinity,0.9", []string{"point 3", "x -infinity is not a finite number"}},
		{"0.1,0.1;0.9,abc;0.9,0.9", []string{"point 2", `"0.9,abc"`, `y "abc" is not a number`}},
		{"0.1,0.1;0.9;0.9,0.9", []string{"point 2", `"0.9"`, "want two coordinates x,y"}},
		{"0.1,0.1,0.2;0.9,0.1;0.9,0.9", []string{"point 1", `"0.1,0.1,0.2"`, "want two coordinates x,y"}},
		{"0.1,0.1;,0.5;0.9,0.9", []string{"point 2", `x "" is not a number`}},
		{"0.1,0.1;0.9,0.1;0.9,", []string{"point 3", `y "" is not a number`}},
		{"(0.1,0.1);(0.9,0.1);(0.9,0.9)", []string{"point 1", `x "(0.1" is not a number`}},
		{"0.1:0.1;0.9:0.1;0.9:0.9", []string{"point 1", `"0.1:0.1"`, "want two coordinates x,y"}},
		{"0.1,0.1;0.5,0.5;0.9,0.9", []string{"encloses no area", "on one line"}},
		{"0.5,0.5;0.5,0.5;0.5,0.5;0.5,0.5", []string{"encloses no area"}},
	}
	for _, tc := range tests {
		got, err := roi.Parse(tc.in)
		if err == nil {
			t.Errorf("ParsePolygon(%q) = %v, want an error", tc.in, got)
			continue
		}
		if !errors.Is(err, roi.ErrInvalid) {
			t.Errorf("ParsePolygon(%q): %v does not wrap ErrInvalidPolygon", tc.in, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParsePolygon(%q): %q does not mention %q", tc.in, err, w)
			}
		}
	}
}

func TestFormatPolygon(t *testing.T) {
	tests := []struct {
		in   []roi.Point
		want string
	}{
		{pts(0.1, 0.1, 0.9, 0.1, 0.9, 0.9, 0.1, 0.9), "0.1,0.1;0.9,0.1;0.9,0.9;0.1,0.9"},
		{pts(0, 0, 1, 0, 0.5, 1), "0,0;1,0;0.5,1"},
		{pts(1.0/3, 0, 1, 0.00001, 0, 1), "0.3333333333333333,0;1,1e-05;0,1"},
		{nil, ""},
	}
	for _, tc := range tests {
		got := roi.Format(tc.in)
		if got != tc.want {
			t.Errorf("FormatPolygon(%v) = %q, want %q", tc.in, got, tc.want)
		}
		// What FormatPolygon writes, ParsePolygon reads back to the same points.
		back, err := roi.Parse(got)
		if err != nil || !slices.Equal(back, tc.in) {
			t.Errorf("ParsePolygon(FormatPolygon(%v)) = %v, %v", tc.in, back, err)
		}
	}
}
