package model

import (
	"fmt"
	"net/url"
)

// checkBaseURL accepts an absolute http or https URL; the error completes a
// sentence that begins with the option's name.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("is not a URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http or https URL", s)
	}
	return nil
}
