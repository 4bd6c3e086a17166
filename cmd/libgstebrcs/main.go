// Command libgstebrcs is the EBRCS elements built as a GStreamer plugin library, so that they
// work outside our binary:
//
//	make plugin
//	gst-launch-1.0 --gst-plugin-path=build/plugin videotestsrc num-buffers=30 ! ebrcs_passthrough ! fakesink
//
// Build it with -buildmode=c-shared; the output must be named libgstebrcs.so, because GStreamer
// looks up the symbol gst_plugin_<name>_get_desc from the file name.
package main

import "C"

import (
	"unsafe"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/elements"
)

var pluginMeta = &gst.PluginMetadata{
	MajorVersion: gst.VersionMajor,
	MinorVersion: gst.VersionMinor,
	Name:         "ebrcs",
	Description:  "EBRCS checkout analysis elements written in Go",
	Version:      "0.1.0",
	License:      gst.LicenseLGPL,
	Source:       "ebrcs",
	Package:      "ebrcs",
	Origin:       "https://github.com/ebrcs/ebrcs",
	ReleaseDate:  "2026-11-26",
	Init: func(plugin *gst.Plugin) bool {
		if err := elements.RegisterInto(plugin); err != nil {
			gst.CAT.Log(gst.LevelError, err.Error())
			return false
		}
		return true
	},
}

//export gst_plugin_ebrcs_get_desc
func gst_plugin_ebrcs_get_desc() unsafe.Pointer { return pluginMeta.Export() }

func main() {}
