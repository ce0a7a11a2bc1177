package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/agentgate/agentgate/internal/sdkhttp"
)

// BedrockOptions configures the Bedrock ConverseStream provider.
type BedrockOptions struct {
	// ModelID is the model to call: a model id such as
	// "anthropic.claude-3-haiku-20240307-v1:0", an inference profile id, or
	// an ARN. Required.
	ModelID string
	// Region is the AWS Region of the endpoint. Empty takes it from the
	// environment (AWS_REGION, the shared config file); one of the two must
	// give it.
	Region string
	// Endpoint, when set, replaces the Region's endpoint (the SDK's
	// BaseEndpoint), for a VPC endpoint or a local fake. It must be an
	// absolute http or https URL.
	Endpoint string
	// Credentials sign the requests. Nil uses the SDK's default chain
	// (environment, shared files, SSO, container and instance roles).
	Credentials aws.CredentialsProvider
	// MaxTokens caps replies whose Request.MaxTokens is zero; zero leaves
	// the model's own default.
	MaxTokens int
	// HTTPClient sends the requests; nil uses the SDK's default client. Its
	// Timeout, if any, bounds the whole reply, stream included.
	HTTPClient *http.Client
}

// Bedrock streams replies from a model on Amazon Bedrock through the
// ConverseStream API.
type Bedrock struct {
	client    *bedrockruntime.Client
	modelID   string
	maxTokens int
}

var _ Provider = (*Bedrock)(nil)

// NewBedrock checks opts and builds the Bedrock client. It loads the SDK's
// default configuration, so environment settings such as retry mode apply;
// ctx bounds only that loading.
func NewBedrock(ctx context.Context, opts BedrockOptions) (*Bedrock, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	var load []func(*config.LoadOptions) error
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	if opts.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(opts.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("model: bedrock: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("model: BedrockOptions.Region is empty and the environment sets no region")
	}
	client := bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		if opts.HTTPClient != nil {
			o.HTTPClient = opts.HTTPClient
		}
		o.HTTPClient = sdkhttp.Guard(o.HTTPClient)
	})
	return &Bedrock{client: client, modelID: opts.ModelID, maxTokens: opts.MaxTokens}, nil
}

func (o BedrockOptions) validate() error {
	var errs []error
	if o.ModelID == "" {
		errs = append(errs, errors.New("model: BedrockOptions.ModelID is required"))
	}
	if o.Endpoint != "" {
		if err := checkBaseURL(o.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("model: BedrockOptions.Endpoint %w", err))
		}
	}
	if o.MaxTokens < 0 || o.MaxTokens > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("model: BedrockOptions.MaxTokens is %d, want 0 to %d", o.MaxTokens, math.MaxInt32))
	}
	return errors.Join(errs...)
}

// Name returns "bedrock".
func (*Bedrock) Name() string { return "bedrock" }

// Stream calls ConverseStream and emits each text delta as its frame
// arrives. Tool-use and reasoning deltas are skipped: the agent has no tools
// and shows no reasoning. The stop reason comes from messageStop and the
// usage from the metadata event that follows it; a stream that ends without
// messageStop fails with ErrTruncated.
func (b *Bedrock) Stream(ctx context.Context, req Request, emit func(delta string) error) (Result, error) {
	if err := req.check(); err != nil {
		return Result{}, err
	}
	out, err := b.client.ConverseStream(ctx, b.input(req))
	if err != nil {
		return Result{}, bedrockError(ctx, err)
	}
	stream := out.GetStream()
	// Close releases the response body and the SDK's reader goroutines,
	// whichever way this call ends.
	defer stream.Close()

	var res Result
	stopped := false
	for {
		var ev types.ConverseStreamOutput
		var open bool
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case ev, open = <-stream.Events():
		}
		if !open {
			break
		}
		switch v := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			if text, ok := v.Value.Delta.(*types.ContentBlockDeltaMemberText); ok && text.Value != "" {
				if err := emit(text.Value); err != nil {
					return Result{}, err
				}
			}
		case *types.ConverseStreamOutputMemberMessageStop:
			res.StopReason = string(v.Value.StopReason)
			stopped = true
		case *types.ConverseStreamOutputMemberMetadata:
			res.Usage = bedrockUsage(v.Value.Usage)
		}
	}
	if err := stream.Err(); err != nil || !stopped {
		return Result{}, bedrockError(ctx, err)
	}
	return res, nil
}

// input maps a Request onto ConverseStream's shapes, one text block per
// message.
func (b *Bedrock) input(req Request) *bedrockruntime.ConverseStreamInput {
	in := &bedrockruntime.ConverseStreamInput{
		ModelId:  aws.String(b.modelID),
		Messages: make([]types.Message, 0, len(req.Messages)),
	}
	for _, m := range req.Messages {
		role := types.ConversationRoleUser
		if m.Role == RoleAssistant {
			role = types.ConversationRoleAssistant
		}
		in.Messages = append(in.Messages, types.Message{
			Role:    role,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: m.Text}},
		})
	}
	if req.System != "" {
		in.System = []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: req.System}}
	}
	if n := req.maxTokens(b.maxTokens); n > 0 {
		in.InferenceConfig = &types.InferenceConfiguration{MaxTokens: aws.Int32(int32(min(n, math.MaxInt32)))}
	}
	return in
}

// bedrockError is the one place a failed call becomes an error. A cancelled
// ctx wins, because the SDK reports it as whatever read it interrupted; a nil
// err means the stream ended early.
func bedrockError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if err == nil {
		return fmt.Errorf("%w: bedrock sent no messageStop", ErrTruncated)
	}
	return fmt.Errorf("model: bedrock: %w", err)
}

func bedrockUsage(u *types.TokenUsage) Usage {
	if u == nil {
		return Usage{}
	}
	return Usage{
		InputTokens:  int(aws.ToInt32(u.InputTokens)),
		OutputTokens: int(aws.ToInt32(u.OutputTokens)),
		TotalTokens:  int(aws.ToInt32(u.TotalTokens)),
	}
}
