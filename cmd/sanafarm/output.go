package main

import (
	"fmt"

	"github.com/spf13/pflag"
)

// outputFormat is -o/--output, the one meaning of that flag in every
// command (kubectl's convention): the format of what the command prints,
// table (the human form, the default) or json. Where images are written
// is --dest, never -o. It is a pflag.Value so that a bad value is a flag
// error (exit status 2) before the command runs.
type outputFormat string

const (
	outputTable outputFormat = "table"
	outputJSON  outputFormat = "json"
)

func (o *outputFormat) String() string { return string(*o) }
func (o *outputFormat) Type() string   { return "format" }

// Set accepts table or json; text is the name of table before the flags
// were unified, kept so that scripts that spelled it still run.
func (o *outputFormat) Set(v string) error {
	switch outputFormat(v) {
	case outputTable, "text":
		*o = outputTable
	case outputJSON:
		*o = outputJSON
	default:
		return fmt.Errorf("want table or json (-o is the output format; images go to --dest)")
	}
	return nil
}

// json reports whether the command prints JSON.
func (o outputFormat) json() bool { return o == outputJSON }

// registerOutput adds -o/--output to a command's flags.
func registerOutput(fl *pflag.FlagSet, o *outputFormat) {
	*o = outputTable
	fl.VarP(o, "output", "o", "output format: table or json")
}

// plural is "1 image", "2 images": counts printed for people.
func plural(n int64, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
