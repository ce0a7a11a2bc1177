package chatcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// signIn sets the credentials and the agent. It asks GET /agents what the
// caller may use: that both checks the credentials and finds the default
// agent. Without credentials from the options, a 401 makes it ask for
// them: user and password when the gateway offers sign-in, else an API key.
func (c *client) signIn(ctx context.Context) error {
	switch {
	case c.o.APIKey != "":
		c.header.Set("Authorization", "Bearer "+c.o.APIKey)
	case c.o.User != "" && c.o.Password != "":
		if err := c.login(ctx, c.o.User, c.o.Password); err != nil {
			return err
		}
	}
	agents, err := c.agents(ctx)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized && c.header.Get("Authorization") == "" {
		if err := c.ask(ctx, apiErr); err != nil {
			return err
		}
		agents, err = c.agents(ctx)
	}
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
		return fmt.Errorf("%w: %v", ErrUnauthorized, apiErr)
	}
	if err != nil {
		return err
	}
	return c.pickAgent(agents)
}

// ask prompts for credentials after the gateway answered 401.
func (c *client) ask(ctx context.Context, challenge *APIError) error {
	if challenge.basic {
		user, err := c.readLine("User: ")
		if err != nil {
			return err
		}
		password, err := c.readSecret("Password: ")
		if err != nil {
			return err
		}
		return c.login(ctx, user, password)
	}
	key, err := c.readSecret("API key: ")
	if err != nil {
		return err
	}
	c.header.Set("Authorization", "Bearer "+key)
	return nil
}

func (c *client) readLine(prompt string) (string, error) {
	fmt.Fprint(c.o.Stderr, prompt)
	line, err := c.lines.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", fmt.Errorf("reading %s%w", strings.ToLower(prompt), err)
	}
	return strings.TrimSpace(line), nil
}

func (c *client) readSecret(prompt string) (string, error) {
	if c.o.ReadSecret != nil {
		s, err := c.o.ReadSecret(prompt)
		return strings.TrimSpace(s), err
	}
	return c.readLine(prompt)
}

// login exchanges a user and password for a token (POST /auth/login).
func (c *client) login(ctx context.Context, user, password string) error {
	b, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp, err := c.do(ctx, http.MethodPost, "/auth/login", b)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return errors.New("this gateway has no ID/password sign-in: use an API key (AGENTGATE_API_KEY)")
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sign-in failed: %w", readError(resp))
	}
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return errors.New("sign-in failed: the gateway sent no token")
	}
	c.header.Set("Authorization", "Bearer "+out.Token)
	return nil
}

type agentInfo struct {
	Name    string `json:"name"`
	Default bool   `json:"default"`
}

// agents lists the agents the caller may use.
func (c *client) agents(ctx context.Context) ([]agentInfo, error) {
	resp, err := c.do(ctx, http.MethodGet, "/agents", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e := readError(resp)
		for _, v := range resp.Header.Values("WWW-Authenticate") {
			e.basic = e.basic || strings.HasPrefix(v, "Basic ")
		}
		return nil, e
	}
	var out struct{ Agents []agentInfo }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("GET /agents: the answer is not the agents list: %w", err)
	}
	return out.Agents, nil
}

func (c *client) pickAgent(agents []agentInfo) error {
	var names []string
	for _, a := range agents {
		names = append(names, a.Name)
		if c.o.Agent == "" && a.Default {
			c.agent = a.Name
		}
	}
	switch {
	case len(names) == 0:
		return errors.New("no agent is available to these credentials")
	case c.o.Agent != "" && !slices.Contains(names, c.o.Agent):
		return fmt.Errorf("--agent %q is not available; the agents you may use: %s", c.o.Agent, strings.Join(names, ", "))
	case c.o.Agent != "":
		c.agent = c.o.Agent
	case c.agent == "":
		c.agent = names[0]
	}
	return nil
}
