// Command custody stands for a main package: it owns the CLI and passes time.Now down.
package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

func main() {
	_ = viper.New()
	cmd := &cobra.Command{Use: "custody"}
	fmt.Println(cmd.Use, time.Now(), time.Since(time.Now()))
}
