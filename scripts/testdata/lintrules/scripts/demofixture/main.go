// Command demofixture stands for a main package outside cmd/.
package main

import (
	"fmt"
	"time"
)

func main() { fmt.Println(time.Now()) }
