package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/ebrcs/ebrcs/elements"
	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/internal/doctor"
	"github.com/ebrcs/ebrcs/models"
)

// cmdElements lists our elements; with --markdown it prints the reference docs
// (docs/elements.md is generated this way).
func cmdElements(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("elements", flag.ContinueOnError)
	fs.SetOutput(stderr)
	markdown := fs.Bool("markdown", false, "print the element reference as Markdown")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	infos := elements.Infos()
	if *markdown {
		fmt.Fprint(stdout, goelement.Markdown(infos))
		return 0
	}
	for _, info := range infos {
		fmt.Fprintf(stdout, "%-22s %s\n", info.Name, info.Description)
		for _, p := range info.Properties {
			fmt.Fprintf(stdout, "    %-26s %-7s %s\n", p.Name, p.Kind, p.Doc)
		}
	}
	return 0
}

// cmdDoctor checks the native dependencies (package doctor) and prints the report.
func cmdDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("models", models.DefaultDir, "directory of the model files")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *modelDir == "" {
		*modelDir = models.DefaultDir
	}
	if err := initGStreamer(); err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	results, ok := doctor.Run(doctor.Checks(doctor.Options{ModelDir: *modelDir}))
	printDoctor(stdout, results)
	if !ok {
		fmt.Fprintln(stderr, "some required dependencies are missing: run `make install models`")
		return 1
	}
	return 0
}

// printDoctor prints one line per check: ok, FAIL (required) or warn, and what it found.
func printDoctor(w io.Writer, results []doctor.Result) {
	for _, r := range results {
		mark := "ok  "
		detail := r.Detail
		if r.Err != nil {
			mark, detail = "FAIL", r.Err.Error()
			if !r.Required {
				mark = "warn"
			}
		}
		fmt.Fprintf(w, "%s %-26s %s\n", mark, r.Name, detail)
	}
}

func cmdVersion(stdout io.Writer) int {
	fmt.Fprintf(stdout, "ebrcs %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}
