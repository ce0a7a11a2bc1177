package config

import (
	"fmt"
	"reflect"
	"strconv"
	"time"
)

var durationType = reflect.TypeFor[time.Duration]()

// applyEnv sets every field tagged `env:"NAME"` whose variable is non-empty.
// The fields of Agent are tagged too: they describe the default agent, so a
// deployment configured only through the environment (a Lambda function)
// needs no file.
func applyEnv(cfg *Config, getenv func(string) string) error {
	if getenv == nil {
		return nil
	}
	if err := setFields(reflect.ValueOf(cfg).Elem(), getenv); err != nil {
		return err
	}
	var a Agent
	if err := setFields(reflect.ValueOf(&a).Elem(), getenv); err != nil {
		return err
	}
	if a.ARN != "" || a.Qualifier != "" || a.Region != "" || a.Endpoint != "" || a.Dialect != "" {
		if cfg.Agents == nil {
			cfg.Agents = map[string]Agent{}
		}
		cur := cfg.Agents[cfg.DefaultAgent]
		merge(&cur, a)
		cfg.Agents[cfg.DefaultAgent] = cur
	}
	return nil
}

func merge(dst *Agent, src Agent) {
	for _, p := range []struct {
		d *string
		s string
	}{
		{&dst.ARN, src.ARN}, {&dst.Qualifier, src.Qualifier}, {&dst.Region, src.Region}, {&dst.Endpoint, src.Endpoint}, {&dst.Dialect, src.Dialect},
	} {
		if p.s != "" {
			*p.d = p.s
		}
	}
}

func setFields(v reflect.Value, getenv func(string) string) error {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			if err := setFields(fv, getenv); err != nil {
				return err
			}
			continue
		}
		name := f.Tag.Get("env")
		if name == "" {
			continue
		}
		val := getenv(name)
		if val == "" {
			continue
		}
		if err := setValue(fv, val); err != nil {
			return fmt.Errorf("config: %s=%q: %w", name, val, err)
		}
	}
	return nil
}

func setValue(fv reflect.Value, val string) error {
	switch {
	case fv.Type() == durationType:
		d, err := time.ParseDuration(val)
		if err != nil {
			return fmt.Errorf("not a duration (like 15s or 2m)")
		}
		fv.SetInt(int64(d))
	case fv.Kind() == reflect.String:
		fv.SetString(val)
	case fv.Kind() == reflect.Int || fv.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer")
		}
		fv.SetInt(n)
	case fv.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return fmt.Errorf("not a number")
		}
		fv.SetFloat(f)
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("not a boolean")
		}
		fv.SetBool(b)
	case fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.Bool:
		// An optional boolean: set, even to false, differs from unset.
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("not a boolean")
		}
		fv.Set(reflect.ValueOf(&b))
	default:
		return fmt.Errorf("unsupported field type %s", fv.Type())
	}
	return nil
}
