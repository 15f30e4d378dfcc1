package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/testaws"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (controller, terminal *os.File) {
	t.Helper()
	controller, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { controller.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, controller.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlock pty: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, controller.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("pty number: %v", e)
	}
	terminal, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() { terminal.Close() })
	return controller, terminal
}

// On a terminal, each retry of an AWS call is printed as it happens.
func TestRetryPrinterOnTerminal(t *testing.T) {
	awsEnv(t)
	controller, terminal := openPTY(t)
	onRetry := RetryPrinter(terminal)
	if onRetry == nil {
		t.Fatal("RetryPrinter of a terminal is nil")
	}
	addr := testaws.FreeAddr(t)
	t.Setenv("AWS_MAX_ATTEMPTS", "2")
	ctx, err := parseAWSFlags(t, "--endpoint-url", "http://"+addr, "--region", "us-east-1").Apply(context.Background(), terminal)
	if err != nil {
		t.Fatal(err)
	}
	c, err := awsclient.Load(ctx, awsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.S3().GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("custody-evidence")}); err == nil {
		t.Fatal("call to a closed port succeeded")
	}
	line, err := bufio.NewReader(controller).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if want := "GetBucketVersioning: retry 2 of 2 after connection refused (" + addr + ")"; strings.TrimRight(line, "\r\n") != want {
		t.Errorf("terminal shows %q, want %q", line, want)
	}
}
