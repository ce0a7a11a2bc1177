package config

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// SecretValues is the JSON object a Secrets Manager secret holds for the
// gateway (secrets.arn): the settings that are secret. Every field is
// optional; one that is set replaces the setting it names, whatever the
// file and the environment say.
//
// Errors about it name fields, never values: a value may be a key.
type SecretValues struct {
	// SessionKey and PreviousSessionKeys: sessions.key, sessions.previousKeys.
	SessionKey          string   `json:"sessionKey,omitempty"`
	PreviousSessionKeys []string `json:"previousSessionKeys,omitempty"`
	// TokenKey and PreviousTokenKeys: auth.passwords.tokenKey,
	// auth.passwords.previousTokenKeys.
	TokenKey          string   `json:"tokenKey,omitempty"`
	PreviousTokenKeys []string `json:"previousTokenKeys,omitempty"`
	// OriginSecret and PreviousOriginSecrets: originLock.secret,
	// originLock.previousSecrets.
	OriginSecret          string   `json:"originSecret,omitempty"`
	PreviousOriginSecrets []string `json:"previousOriginSecrets,omitempty"`
	// RedisURL, redis:// or rediss://[USER:PASSWORD@]HOST[:PORT][/DB],
	// sets limits.redis.addr, .username, .password, .db and .tls at once;
	// RedisAddr, RedisUsername and RedisPassword set them one by one.
	RedisURL      string `json:"redisURL,omitempty"`
	RedisAddr     string `json:"redisAddr,omitempty"`
	RedisUsername string `json:"redisUsername,omitempty"`
	RedisPassword string `json:"redisPassword,omitempty"`
	// MetricsToken: metrics.token.
	MetricsToken string `json:"metricsToken,omitempty"`
	// APIKeys: auth.apiKeys, the whole list.
	APIKeys []APIKey `json:"apiKeys,omitempty"`
	// Users is a users file's content, "user:hash" lines (agentgate
	// passwd): it takes the place of auth.passwords.usersFile.
	Users string `json:"users,omitempty"`
}

// secretFields lists SecretValues' JSON names, in declaration order.
var secretFields = sync.OnceValue(func() []string {
	t := reflect.TypeFor[SecretValues]()
	names := make([]string, t.NumField())
	for i := range t.NumField() {
		names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return names
})

// secretARNPattern matches a Secrets Manager secret's ARN and captures its
// region.
var secretARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$`)

// SecretRegion returns the region in a secret's ARN, "" when arn is not
// one.
func SecretRegion(arn string) string {
	m := secretARNPattern.FindStringSubmatch(arn)
	if m == nil {
		return ""
	}
	return m[1]
}

// ParseSecretValues reads a secret's JSON object. It refuses fields it does
// not know, naming them all, and values of the wrong kind, naming the field.
func ParseSecretValues(data []byte) (SecretValues, error) {
	var v SecretValues
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		// json's messages quote the text they stumbled on.
		return v, errors.New("secret: the value is not a JSON object")
	}
	var unknown []string
	for name := range fields {
		if !slices.Contains(secretFields(), name) {
			unknown = append(unknown, strconv.Quote(name))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return v, fmt.Errorf("secret: unknown fields %s; the fields are %s", strings.Join(unknown, ", "), strings.Join(secretFields(), ", "))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return SecretValues{}, secretDecodeError(err)
	}
	return v, v.check()
}

// secretDecodeError says which field has the wrong kind of value without
// quoting it: json's own message may hold the value.
func secretDecodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Errorf("secret: field %s: want %s", typeErr.Field, kindName(typeErr.Type))
	}
	// Unknown fields at the top were named already; these are nested,
	// and json names them without their value.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("secret: apiKeys: unknown field %s; an entry has name and hash", name)
	}
	return errors.New("secret: the value is not a JSON object of the secret fields")
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array"
	case reflect.Struct:
		return "an object"
	}
	return t.Kind().String()
}

// check refuses values that would be quoted in a configuration error
// later, and fields that contradict each other.
func (v SecretValues) check() error {
	var errs []error
	bad := func(field, msg string) { errs = append(errs, fmt.Errorf("secret: %s: %s", field, msg)) }
	if v.RedisURL != "" {
		if _, err := parseRedisURL(v.RedisURL); err != nil {
			bad("redisURL", err.Error())
		}
		if v.RedisAddr != "" || v.RedisUsername != "" || v.RedisPassword != "" {
			bad("redisURL", "give either redisURL or redisAddr, redisUsername and redisPassword")
		}
	}
	if v.RedisAddr != "" {
		if _, _, err := net.SplitHostPort(v.RedisAddr); err != nil {
			bad("redisAddr", "not host:port")
		}
	}
	for i, k := range v.APIKeys {
		if k.Name == "" || k.Hash == "" {
			bad(fmt.Sprintf("apiKeys[%d]", i), "name and hash are required (agentgate keys create)")
		}
	}
	return errors.Join(errs...)
}

// Apply sets the settings v holds in cfg; a field v leaves empty leaves
// its setting alone. Users, when set, replaces auth.passwords.usersFile.
func (v SecretValues) Apply(cfg *Config) {
	set := func(dst *string, src string) {
		if src != "" {
			*dst = src
		}
	}
	setList := func(dst *[]string, src []string) {
		if src != nil {
			*dst = slices.Clone(src)
		}
	}
	set(&cfg.Sessions.Key, v.SessionKey)
	setList(&cfg.Sessions.PreviousKeys, v.PreviousSessionKeys)
	set(&cfg.Auth.Passwords.TokenKey, v.TokenKey)
	setList(&cfg.Auth.Passwords.PreviousTokenKeys, v.PreviousTokenKeys)
	set(&cfg.OriginLock.Secret, v.OriginSecret)
	setList(&cfg.OriginLock.PreviousSecrets, v.PreviousOriginSecrets)
	if v.RedisURL != "" {
		r, _ := parseRedisURL(v.RedisURL)
		r.Prefix = cfg.Limits.Redis.Prefix
		cfg.Limits.Redis = r
	}
	set(&cfg.Limits.Redis.Addr, v.RedisAddr)
	set(&cfg.Limits.Redis.Username, v.RedisUsername)
	set(&cfg.Limits.Redis.Password, v.RedisPassword)
	set(&cfg.Metrics.Token, v.MetricsToken)
	if v.APIKeys != nil {
		cfg.Auth.APIKeys = slices.Clone(v.APIKeys)
	}
	if v.Users != "" {
		cfg.Auth.Passwords.Users, cfg.Auth.Passwords.UsersFile = v.Users, ""
	}
}

// Changed names, by their JSON names, the fields whose values differ
// between v and w: what a log may say about a rotation.
func (v SecretValues) Changed(w SecretValues) []string {
	var names []string
	a, b := reflect.ValueOf(v), reflect.ValueOf(w)
	for i, name := range secretFields() {
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			names = append(names, name)
		}
	}
	return names
}

// parseRedisURL reads redis:// or rediss:// (TLS) URLs. Its errors never
// quote the URL, which carries a password.
func parseRedisURL(s string) (Redis, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Hostname() == "" {
		return Redis{}, errors.New("not a redis:// or rediss:// URL with a host")
	}
	r := Redis{Addr: net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), "6379")), TLS: u.Scheme == "rediss"}
	if u.User != nil {
		r.Username = u.User.Username()
		r.Password, _ = u.User.Password()
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return Redis{}, errors.New("the path must be a database number")
		}
		r.DB = n
	}
	return r, nil
}
