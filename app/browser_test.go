package app

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium, which scripts/test.sh installs.
const chromiumPath = "/usr/bin/chromium"

// headlessChromium starts a headless Chromium for one browser test and
// returns its context; the test is skipped, saying why, when Chromium is
// missing. The browser stops when the test ends or timeout passes.
func headlessChromium(t *testing.T, timeout time.Duration, opts ...chromedp.ContextOption) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found: browser test skipped (scripts/test.sh installs chromium when run as root)", chromiumPath)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU)...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, opts...)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancel()
	})
	return bctx
}
