// Command cdk is agentgate's AWS deployment as a CDK app: the gateway as a
// Lambda function URL with response streaming behind CloudFront, AWS WAF and
// a Lambda@Edge body signer, and the agent on AgentCore Runtime.
//
// It reads the settings file named by the `settings` context value
// (cdk.json: settings.example.yaml; override with -c settings=FILE) and
// synthesizes offline, with no Docker: `npx cdk synth`. `npm run deploy --
// -c settings=FILE` checks Node.js and the settings (preflight.js), then
// runs `cdk deploy --all`, which also builds the agent's image.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "agentgate deploy:", err)
		jsii.Close()
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	path := defaultSettingsFile
	if v, ok := app.Node().TryGetContext(jsii.String("settings")).(string); ok && v != "" {
		path = v
	}
	s, err := LoadSettings(path)
	if err != nil {
		return err
	}
	if _, err := NewAgentgate(app, s); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}
