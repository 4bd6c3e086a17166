// Command ebrcs is the EBRCS server and its tools, one binary with subcommands:
//
//	ebrcs serve                      run the server with the configured pipelines
//	ebrcs run --pipeline FILE        run one pipeline to its end and print its cart
//	ebrcs scenario                   render test videos with a known ground-truth cart
//	ebrcs pipelines check FILE...    validate pipeline files (exit 1 with file:line:col)
//	ebrcs catalog import|list|rm     manage the product catalog
//	ebrcs eval                       measure recognition on labelled photos
//	ebrcs elements [--markdown]      list the Go elements and their properties
//	ebrcs events tail                follow the events of every node (NATS JetStream)
//	ebrcs doctor                     check the native dependencies
//	ebrcs version                    print versions
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/elements"
)

// version is set at build time: -ldflags "-X main.version=..."
var version = "dev"

const usage = `ebrcs: Embedding-Based Real-time Checkout System

Usage:
  ebrcs serve [--config FILE] [--addr ADDR] [--pipelines DIR] [--log-level LEVEL]
  ebrcs run --pipeline FILE [--input PATH] [--json] [--details FILE]
  ebrcs scenario [--products DIR | --synthetic N] [--all | --name NAME] --out DIR [--format mp4|y4m]
  ebrcs pipelines check FILE...
  ebrcs catalog import DIR | list [--json] | rm NAME  [--data DIR] [--embedder FILE]
  ebrcs eval --catalog DIR --queries DIR [--embedder FILE] [--holdout N] [--json] [--report DIR]
  ebrcs elements [--markdown]
  ebrcs events tail [--events-url URL] [--subject SUBJECT] [--since DURATION | --all] [--json]
  ebrcs doctor [--models DIR]
  ebrcs version

Run 'ebrcs COMMAND --help' for a command's options.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(rest, stdout, stderr)
	case "scenario":
		return cmdScenario(args[1:], stdout, stderr)
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "pipelines":
		if len(rest) == 0 || rest[0] != "check" {
			fmt.Fprintln(stderr, "usage: ebrcs pipelines check FILE...")
			return 2
		}
		return cmdPipelinesCheck(rest[1:], stdout, stderr)
	case "elements":
		return cmdElements(rest, stdout, stderr)
	case "catalog":
		return cmdCatalog(rest, stdout, stderr)
	case "eval":
		return cmdEval(rest, stdout, stderr)
	case "events":
		return cmdEvents(rest, stdout, stderr)
	case "doctor":
		return cmdDoctor(rest, stdout, stderr)
	case "version", "--version":
		return cmdVersion(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "ebrcs: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// initGStreamer initialises GStreamer and registers our elements; every command that touches
// pipelines calls it first.
func initGStreamer() error {
	gst.Init(nil)
	return elements.RegisterAll()
}
