package app

import "sync"

// parallel runs functions side by side and keeps the first error.
type parallel struct {
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

func (p *parallel) Go(fn func() error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := fn(); err != nil {
			p.once.Do(func() { p.err = err })
		}
	}()
}

func (p *parallel) Wait() error {
	p.wg.Wait()
	return p.err
}
